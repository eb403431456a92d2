"""Rules ``train`` and ``train_matched``: one seeded (model, framework, seed) cell with the
shared hyperparameters.

Writes the model folder: the framework's artifact, ``spec.json`` and ``train.json``.
``init="matched"`` (the matched-initialisation ablation) starts a Keras model from the
initial weights the PyTorch model of the same seed starts from, instead of Keras' own
initialisers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models, registry
from convstudy.atomic import atomic_output
from convstudy.data import load_prepared, subset
from convstudy.frameworks import adapter
from convstudy.provenance import Provenance, read_json, sha256_file
from convstudy.records import TrainingRecord
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads
from convstudy.training import fit

logger = logging.getLogger(__name__)


def new_cell(
    model: str,
    framework: str,
    seed: int,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    *,
    threads: int,
    device: str,
) -> tuple[Any, str, dict[str, np.ndarray], ModelSpec, Any]:
    """A cell's start: its framework adapter on its device and threads, seeded; the
    cell's data subsets; its spec; and the freshly built (untrained) model."""
    fw = adapter(framework)
    used_device = fw.use_device(device)
    limit_threads(threads, framework)
    fw.seed(seed)
    sizes = hyper["subset"]
    arrays = subset(load_prepared(data_path), sizes["train"], sizes["val"], sizes["test"])
    spec = models.model_spec(model, framework, arrays, hyper["arch"])
    net = models.build(
        model, framework, input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    return fw, used_device, arrays, spec, net


#: Initialisations: each framework's own initialisers, or PyTorch's (copied into Keras).
INITS = ("own", "matched")


def matched_initial_weights(net: Any, model: str, spec: ModelSpec, seed: int) -> None:
    """Give the Keras model ``net`` the initial weights of the PyTorch model of ``seed``
    (built exactly as the PyTorch ``train`` job of that seed builds it)."""
    torch_fw = adapter("torch")
    torch_fw.seed(seed)
    source = models.build(
        model, "torch", input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    models.torch_to_keras(source, net, model)


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
    init: str = "own",
    device: str = "cpu",
) -> TrainingRecord:
    """Train one cell; write its model folder ``out_dir``; return its record.

    Raises:
        ValueError: ``init`` is not one of :data:`INITS`, or ``matched`` for a framework
            other than Keras (weights are copied from PyTorch to Keras only).
    """
    if init not in INITS or (init == "matched" and framework != "keras"):
        raise ValueError(f"init {init!r} for {framework}: expected 'own', or 'matched' for keras")
    started = time.perf_counter()
    fw, used_device, arrays, spec, net = new_cell(
        model, framework, seed, data_path, hyper, threads=threads, device=device
    )
    if init == "matched":
        matched_initial_weights(net, model, spec, seed)
        fw.seed(seed)  # the same framework state after the copy as an own-init cell
    n_params = fw.count_parameters(net)
    logger.info(
        "%s/%s seed %d: %d parameters, %d training samples, %s initialisation",
        model,
        framework,
        seed,
        n_params,
        len(arrays["y_train"]),
        init,
    )
    history = fit(
        fw,
        net,
        hyper,
        seed=seed,
        train=(spec.layout.prepare(arrays["x_train"]), arrays["y_train"].astype(np.int64)),
        val=(spec.layout.prepare(arrays["x_val"]), arrays["y_val"].astype(np.int64)),
    )
    with atomic_output(out_dir, directory=True) as folder:  # the folder appears complete
        fw.save(net, folder / registry.fmt(framework).artifact)
        spec.dump(folder)
        dataset_provenance = read_json(Path(data_path).with_suffix(".json"))
        record = TrainingRecord(
            model=model,
            framework=framework,
            seed=seed,
            init=init,
            device=used_device,
            dataset=spec.dataset,
            dataset_sha256=sha256_file(data_path),
            dataset_exact=dataset_provenance.get("exact", True),
            input_shape=list(spec.input_shape),
            num_classes=spec.num_classes,
            parameters=n_params,
            epochs=hyper["epochs"],
            seconds_per_epoch=float(np.mean([row["seconds"] for row in history])),
            final_val_acc=history[-1]["val_acc"],
            wall_seconds=time.perf_counter() - started,
            hyper=dict(hyper),
            history=history,
            provenance=Provenance.of_job(threads=threads, params=dict(hyper)),
        )
        record.dump(folder / TrainingRecord.FILE)
    return record
