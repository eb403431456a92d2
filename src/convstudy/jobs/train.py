"""Rules ``train`` and ``train_ablation``: one seeded (model, framework, seed) cell with the
shared hyperparameters.

Writes the model folder: the framework's artifact, ``spec.json`` and ``train.json``.
``init`` names whose initial weights the model starts from: ``"own"`` (its framework's
initialisers), or the other framework (the initialisation ablation): a Keras model started
from the initial weights the PyTorch model of the same seed starts from (``"torch"``), or a
PyTorch model started from the Keras model's (``"keras"``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models
from convstudy.cells import new_cell, save_cell
from convstudy.frameworks import adapter
from convstudy.records import TrainingRecord
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads
from convstudy.training import fit

logger = logging.getLogger(__name__)


#: Initialisations: the framework's own initialisers, or another framework's initial weights.
INITS = ("own", "torch", "keras")


def initial_weights_from(
    source: str, net: Any, model: str, spec: ModelSpec, seed: int, *, threads: int
) -> None:
    """Give ``net`` the initial weights of the ``source`` framework's model of ``seed``,
    built exactly as that framework's ``train`` job of the seed builds it (seeded, then
    built), and copied across with the study's weight transfer."""
    limit_threads(threads, source)
    adapter(source).seed(seed)
    built = models.build(
        model, source, input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    if source == "torch":
        models.torch_to_keras(built, net, model)
    else:
        models.keras_to_torch(built, net, model)


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
        ValueError: ``init`` is not one of :data:`INITS`, or names ``framework`` itself.
    """
    if init not in INITS or init == framework:
        others = [i for i in INITS if i != framework]
        raise ValueError(f"init {init!r} for {framework}: expected one of {others}")
    started = time.perf_counter()
    cell = new_cell(model, framework, seed, data_path, hyper, threads=threads, device=device)
    fw, arrays, spec, net = cell.adapter, cell.arrays, cell.spec, cell.net
    if init != "own":
        initial_weights_from(init, net, model, spec, seed, threads=threads)
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
    return save_cell(
        cell, net, out_dir, seed=seed, init=init, data_path=data_path, hyper=hyper,
        threads=threads, started=started, val_acc=history[-1]["val_acc"], history=history,
        epochs=hyper["epochs"],
        seconds_per_epoch=float(np.mean([row["seconds"] for row in history])),
    )  # fmt: skip
