"""Timing of repeated passes: warm-up, then repeated timed passes, median and spread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def run_timed(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    *,
    batch_size: int,
    warmup: int,
    repeats: int,
) -> tuple[np.ndarray, list[float]]:
    """Outputs over ``x`` in batches, and the seconds of each of ``repeats`` timed passes.

    The ``warmup`` passes before them are not timed (first-call compilation, caches).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")

    def one_pass() -> np.ndarray:
        return np.concatenate(
            [predict(x[s : s + batch_size]) for s in range(0, len(x), batch_size)]
        )

    for _ in range(warmup):
        one_pass()
    times, outputs = [], np.empty(0)
    for _ in range(repeats):
        tic = time.perf_counter()
        outputs = one_pass()
        times.append(time.perf_counter() - tic)
    return outputs, times


def load_timed(load: Callable[[], T], *, warmup: int, repeats: int) -> tuple[T, list[float]]:
    """The last of ``repeats`` timed calls of ``load``, and the seconds of each.

    At least one untimed call comes first (``max(warmup, 1)``): it pays for importing the
    runtime and its first-use initialisation, which are not part of loading a model.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(max(warmup, 1)):
        loaded = load()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        loaded = load()
        times.append(time.perf_counter() - tic)
    return loaded, times


def summary(times: list[float]) -> dict[str, float]:
    """Median, interquartile range, minimum and maximum of ``times``."""
    return {
        "median": float(np.median(times)),
        "iqr": float(np.subtract(*np.percentile(times, [75, 25]))),
        "min": float(np.min(times)),
        "max": float(np.max(times)),
    }
