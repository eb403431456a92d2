"""Rule ``train`` for a cell that adopts weights instead of training them (the training
section's ``weights``):

* ``imagenet``: the published ImageNet weights (:mod:`convstudy.models.published`). The
  Keras model loads the published file; the PyTorch model gets the same weights by the
  study's weight transfer. The classifier keeps its 1000 ImageNet classes, so the grid
  measures label change between a source and its conversions; accuracy against the
  evaluation images' labels means nothing there and is not recorded (``final_val_acc`` NaN).
* ``keras`` (PyTorch cells): the Keras model of the same seed, trained here by its own
  ``train`` job, carried across by the weight transfer: one training run gives both
  frameworks the same function, as the published networks would.

The training record says ``init`` (``published`` or ``keras-trained``), where the weights
came from and the sha256 of the file they were read from.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import models, registry
from convstudy.cells import new_cell, save_cell
from convstudy.frameworks import load
from convstudy.models import published
from convstudy.provenance import read_json, sha256_file
from convstudy.records import TrainingRecord

logger = logging.getLogger(__name__)
#: Where downloaded weight files are kept, below the workflow's directory.
CACHE_DIR = Path("data") / "weights"


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
    device: str = "cpu",
    keras_model: str | Path | None = None,
    cache_dir: str | Path = CACHE_DIR,
) -> TrainingRecord:
    """Write the model folder of cell (model, framework, seed) with adopted weights: the
    Keras model folder ``keras_model`` when given, else the published ImageNet weights.

    Raises:
        DataError: the published weights cannot be fetched, fail their digest, or do not fit.
        ValueError: ``keras_model`` given for a Keras cell.
    """
    started = time.perf_counter()
    if keras_model is not None:
        if framework == "keras":
            raise ValueError(f"{model}/keras: weights: keras is for the PyTorch cells")
        recorded = Path(keras_model) / TrainingRecord.FILE
        cell = new_cell(model, framework, seed, data_path, hyper, threads=threads, device=device)
        keras_net = load(Path(keras_model))
        digest = sha256_file(Path(keras_model) / registry.fmt("keras").artifact)
        origin, init, val_acc = (
            f"the Keras model of seed {seed} trained here, carried across ({keras_model})",
            published.KERAS_INIT,
            read_json(recorded).get("final_val_acc", math.nan) if recorded.exists() else math.nan,
        )
    else:
        cell = new_cell(
            model, framework, seed, data_path, hyper, threads=threads, device=device,
            num_classes=published.IMAGENET_CLASSES,
        )  # fmt: skip
        weights = published.weights_for(model, cell.spec.input_shape[0])
        path = published.fetch(weights, cache_dir)
        digest = sha256_file(path)
        keras_net = (
            cell.net
            if framework == "keras"
            else models.build(
                model, "keras", input_shape=cell.spec.input_shape,
                num_classes=cell.spec.num_classes, arch=cell.spec.arch,
            )
        )  # fmt: skip
        published.load_keras(keras_net, weights, path)
        origin, init, val_acc = (
            published.describe(weights, digest),
            published.INIT,
            math.nan,
        )
    net = cell.net
    if framework == "torch":
        models.keras_to_torch(keras_net, net, model)
    else:
        net = keras_net
    logger.info("%s/%s seed %d: %s", model, framework, seed, origin)
    return save_cell(
        cell, net, out_dir, seed=seed, init=init, origin=origin, origin_sha256=digest,
        data_path=data_path, hyper=hyper, threads=threads, started=started, val_acc=val_acc,
        history=[],
    )  # fmt: skip
