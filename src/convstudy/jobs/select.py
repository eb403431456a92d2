"""Rule ``select``: the inputs every attack of a cell runs on (RQ3). Needs numpy only.

Per cell {model, framework, seed}: from the evaluation set, the inputs that the original
and every converted model that ran here classify correctly (text: reviews of 10-100
words, counted in the full review before it is cut to the model's sequence length),
shuffled with the cell's seed, the first ``n``. The same set serves every attack and every
target of the cell.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import metrics
from convstudy.atomic import atomic_output
from convstudy.errors import DataError
from convstudy.records import PredictionRecord

logger = logging.getLogger(__name__)

#: Review lengths (words) the text attack is run on, as STUDY.md prescribes.
TEXT_WORDS = (10, 100)


def eligible(
    outputs: Mapping[str, np.ndarray], labels: np.ndarray, words: np.ndarray | None
) -> np.ndarray:
    """Indices correctly classified by every model of ``outputs`` (and of 10-100 words)."""
    ok = np.ones(len(labels), dtype=bool)
    for target, out in outputs.items():
        if len(out) != len(labels):
            raise DataError(f"{target}: {len(out)} outputs for {len(labels)} evaluation inputs")
        ok &= metrics.labels(out) == labels
    if words is not None:
        ok &= (words >= TEXT_WORDS[0]) & (words <= TEXT_WORDS[1])
    return np.flatnonzero(ok)


def run(
    *,
    seed: int,
    n: int,
    floor: float,
    predictions: Sequence[str | Path],
    out: str | Path,
) -> dict[str, Any]:
    """Choose the cell's inputs from its prediction files (``<target>.npz`` beside
    ``<target>.json``); write the selection JSON ``out``."""
    outputs: dict[str, np.ndarray] = {}
    not_selecting: dict[str, str] = {}
    labels = words = None
    for npz in map(Path, predictions):
        record = PredictionRecord.load(npz.with_suffix(".json"))
        if record.status != "ok":
            not_selecting[record.target] = record.reason
            continue
        with np.load(npz) as data:
            outputs[record.target] = data["outputs"]
            labels = data["labels"]
            if "words" in data:
                words = data["words"]
    if labels is None or "original" not in outputs:
        raise DataError(f"{out}: the original model's predictions are missing or not run")
    accuracy = metrics.accuracy(outputs["original"], labels)
    pool = eligible(outputs, labels, words)
    chosen = np.sort(np.random.default_rng(seed).permutation(pool)[:n])
    selection = {
        "indices": [int(i) for i in chosen],
        "n_eligible": len(pool),
        "selected_by": sorted(outputs),
        "not_selecting": not_selecting,
        "original_accuracy": accuracy,
        "degenerate": bool(accuracy < floor),
        "floor": floor,
    }
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(selection, indent=1) + "\n")
    logger.info(
        "%d of %d eligible inputs chosen (by %s); original accuracy %.3f%s",
        len(chosen), len(pool), ", ".join(sorted(outputs)), accuracy,
        " — below the floor: degenerate" if selection["degenerate"] else "",
    )  # fmt: skip
    return selection
