"""A cell of the study (model × framework × seed) at its start.

:func:`new_cell` is the common start of training a cell and importing a checkpoint for it
(the ``train`` and ``import_model`` jobs): the framework adapter on its device and threads,
seeded; the cell's data subsets; its spec; and the freshly built model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models
from convstudy.data import load_prepared, subset
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
