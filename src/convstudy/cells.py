"""A cell of the study (model × framework × seed) at its start, and its model folder.

:func:`new_cell` is the common start of training a cell and importing a checkpoint for it
(the ``train`` and ``import_model`` jobs): the framework adapter on its device and threads,
seeded; the cell's data subsets; its spec; and the freshly built model. :func:`save_cell`
writes its model folder, for those two jobs and for ``adopt_weights``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models, registry
from convstudy.atomic import atomic_output
from convstudy.data import load_prepared, subset
from convstudy.provenance import Provenance, read_json, sha256_file
from convstudy.records import TrainingRecord
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads


@dataclass
class Cell:
    """A cell at its start.

    Attributes:
        adapter: the framework adapter (:mod:`convstudy.frameworks`), seeded.
        device: the device the adapter uses (the config's ``device`` resolved).
        arrays: the cell's subsets of the prepared dataset.
        spec: the spec of the cell's model.
        net: the freshly built, untrained model.
    """

    adapter: Any
    device: str
    arrays: dict[str, np.ndarray]
    spec: ModelSpec
    net: Any


def new_cell(
    model: str,
    framework: str,
    seed: int,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    *,
    threads: int,
    device: str,
    num_classes: int | None = None,
) -> Cell:
    """Start cell (``model``, ``framework``, ``seed``) with the hyperparameters ``hyper``;
    ``num_classes`` replaces the dataset's (a published classifier's 1000 ImageNet classes)."""
    from convstudy.frameworks import adapter

    fw = adapter(framework)
    used_device = fw.use_device(device)
    limit_threads(threads, framework)
    fw.seed(seed)
    sizes = hyper["subset"]
    arrays = subset(load_prepared(data_path), sizes["train"], sizes["val"], sizes["test"])
    spec = models.model_spec(model, framework, arrays, hyper["arch"])
    if num_classes is not None:
        spec = dataclasses.replace(spec, num_classes=num_classes)
    net = models.build(
        model, framework, input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    return Cell(fw, used_device, arrays, spec, net)


def save_cell(
    cell: Cell,
    net: Any,
    out_dir: str | Path,
    *,
    seed: int,
    init: str,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    threads: int,
    started: float,
    val_acc: float,
    history: list[dict[str, float]],
    epochs: int = 0,
    seconds_per_epoch: float = 0.0,
    origin: str = "",
    origin_sha256: str = "",
) -> TrainingRecord:
    """Write the cell's model folder: ``net`` as its artifact, its spec, and its training
    record (``epochs`` of ``history``; for weights that came from elsewhere, a checkpoint,
    the published weights or the other framework's model, no epochs and ``origin`` with its
    file's sha256). ``started`` is the job's :func:`time.perf_counter` at its start."""
    spec, framework = cell.spec, cell.spec.format
    with atomic_output(out_dir, directory=True) as folder:  # the folder appears complete
        cell.adapter.save(net, folder / registry.fmt(framework).artifact)
        spec.dump(folder)
        record = TrainingRecord(
            model=spec.model,
            framework=framework,
            seed=seed,
            init=init,
            device=cell.device,
            imported_from=origin,
            imported_sha256=origin_sha256,
            dataset=spec.dataset,
            dataset_sha256=sha256_file(data_path),
            dataset_exact=read_json(Path(data_path).with_suffix(".json")).get("exact", True),
            input_shape=list(spec.input_shape),
            num_classes=spec.num_classes,
            parameters=cell.adapter.count_parameters(net),
            epochs=epochs,
            seconds_per_epoch=seconds_per_epoch,
            final_val_acc=val_acc,
            wall_seconds=time.perf_counter() - started,
            hyper=dict(hyper),
            history=history,
            provenance=Provenance.of_job(threads=threads, params=dict(hyper)),
        )
        record.dump(folder / TrainingRecord.FILE)
    return record
