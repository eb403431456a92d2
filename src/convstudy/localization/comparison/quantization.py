"""The error a model's quantization is expected to add, at each of its tensors.

A quantized model computes its float function plus the error of its grids. How large that
error is at a tensor is measured on the same inputs as the relative difference between the
model and its float twin (:func:`~convstudy.localization.graph.quantization.float_twin`:
activation quantizers removed, each stored weight moved by a random draw within its own
grid step). Two models that compute one function up to quantization then differ at a
layer by about the sum of their expected errors there; a stage counts a difference as a
divergence only beyond :data:`QUANTIZATION_MARGIN` times that sum (and beyond its
tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from convstudy.localization.comparison.difference import relative_difference
from convstudy.localization.comparison.runner import TensorStream, run
from convstudy.localization.graph.layout import align
from convstudy.localization.graph.quantization import float_twin

#: A difference counts as a fault beyond this many times the expected quantization error:
#: the twin's weight error is a random draw of the same size as the real one, not the real
#: one, so the measured size varies by some tens of percent between draws and layers.
QUANTIZATION_MARGIN = 3.0
#: A converted view of a quantized model must reproduce the model within this many times
#: its activation quantization error: the view and the model's runtime round the same
#: activations on the same grids, each within that error of the float function (integer
#: kernels and dynamic per-row ranges round differently from the view's float simulation).
VIEW_MARGIN = 2.0
#: Seed of the twin's weight draw (the measured error is reproducible).
TWIN_SEED = 0
#: Samples the expected error is measured on: a mean over every element of a layer's
#: output, stable on a few samples, and the twin costs a run of the whole model.
EXPECTED_SAMPLES = 8


def expected_errors(
    model: onnx.ModelProto,
    names: Sequence[str],
    feeds: Mapping[str, np.ndarray],
    *,
    mode: str = "segments",
    per_segment: int = 6,
) -> dict[str, float]:
    """The relative difference between ``model`` and its float twin at each tensor of
    ``names`` on the first :data:`EXPECTED_SAMPLES` samples of ``feeds``."""
    twin = float_twin(model, TWIN_SEED)
    feeds = {name: value[:EXPECTED_SAMPLES] for name, value in feeds.items()}
    wanted = list(dict.fromkeys(names))
    mine = TensorStream(model, wanted, mode=mode, per_segment=per_segment)(feeds)
    other = TensorStream(twin, wanted, mode=mode, per_segment=per_segment)(feeds)
    waiting: dict[str, np.ndarray] = {}
    errors: dict[str, float] = {}
    for name, value in mine:
        while name not in waiting:
            key, twin_value = next(other)
            waiting[key] = twin_value
        twin_value = waiting.pop(name)
        errors[name] = _relative(value, twin_value)
    return errors


def view_tolerance(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], floor: float) -> float:
    """The tolerance a view of a quantized model is verified with: :data:`VIEW_MARGIN`
    times the relative difference its activation quantization makes at its first output
    (weights as stored), at least ``floor``."""
    plain = float_twin(model)
    mine, twin = run(model, feeds)[0], run(plain, feeds)[0]
    return max(floor, VIEW_MARGIN * _relative(mine, twin))


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)):
        return 0.0
    aligned = align(a, b)
    return 0.0 if aligned is None else float(relative_difference(a, aligned)[2])
