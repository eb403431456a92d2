"""Rule ``train`` for a cell of the config's ``imported_models``: a checkpoint trained
elsewhere (a GPU run, another lab's weights) becomes the cell's model folder instead of a
training run, so conversion, prediction and the attacks run on it.

The checkpoint must be the framework's artifact of the study's architecture (PyTorch: a
``state_dict`` saved with ``torch.save``; Keras: a ``.keras`` archive). It is loaded safely
(``weights_only=True``, Keras ``safe_mode``), checked tensor by tensor against the model
the config builds (names and shapes), evaluated on the validation split, and saved again as
the cell's artifact. The training record says ``init = "imported"`` with the file's path
and sha256.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.cells import new_cell, save_cell
from convstudy.errors import DataError
from convstudy.provenance import sha256_file
from convstudy.records import TrainingRecord

logger = logging.getLogger(__name__)
IMPORTED = "imported"


def check_weights(expected: Mapping[str, np.ndarray], found: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError unless ``found`` has exactly the tensors (names, shapes) of
    ``expected``."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    shapes = [
        f"{name} {found[name].shape} (expected {expected[name].shape})"
        for name in sorted(set(expected) & set(found))
        if found[name].shape != expected[name].shape
    ]
    problems = [
        *([f"missing {', '.join(missing[:5])}"] if missing else []),
        *([f"unexpected {', '.join(extra[:5])}"] if extra else []),
        *([f"shape of {', '.join(shapes[:5])}"] if shapes else []),
    ]
    if problems:
        raise ValueError("; ".join(problems))


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    checkpoint: str | Path,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
    device: str = "cpu",
) -> TrainingRecord:
    """Import ``checkpoint`` as the model of cell (model, framework, seed) into ``out_dir``.

    Raises:
        DataError: the checkpoint cannot be loaded or is not the architecture of the cell
            (the message names the file and what differs).
    """
    started = time.perf_counter()
    checkpoint = Path(checkpoint)
    cell = new_cell(model, framework, seed, data_path, hyper, threads=threads, device=device)
    fw, arrays, spec, built = cell.adapter, cell.arrays, cell.spec, cell.net
    try:
        net = fw.load(checkpoint, spec)
        check_weights(fw.weights(built), fw.weights(net))
    except Exception as error:
        raise DataError(
            f"{checkpoint}: not a {framework} checkpoint of {model} as configured "
            f"(imported_models): {type(error).__name__}: {error}"
        ) from error
    x_val = spec.layout.prepare(arrays["x_val"])
    y_val = arrays["y_val"].astype(np.int64)
    predict = fw.predictor(net)
    logits = np.concatenate([predict(x_val[s : s + 512]) for s in range(0, len(x_val), 512)])
    val_acc = float(np.mean(logits.argmax(axis=1) == y_val))
    logger.info(
        "%s: %s/%s seed %d, validation accuracy %.4f", checkpoint, model, framework, seed, val_acc
    )
    return save_cell(
        cell, net, out_dir, seed=seed, init=IMPORTED, origin=str(checkpoint.resolve()),
        origin_sha256=sha256_file(checkpoint), data_path=data_path, hyper=hyper,
        threads=threads, started=started, val_acc=val_acc,
        history=[{"epoch": 0, "val_acc": val_acc, "seconds": 0.0}],
    )  # fmt: skip
