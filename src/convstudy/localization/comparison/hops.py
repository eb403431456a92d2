"""Stage (a): which hop of a conversion chain diverges first.

A chain source -> hop 1 -> hop 2 -> ... (e.g. PyTorch -> ONNX -> TF SavedModel -> TFLite)
saves each hop's model; the caller runs each on the same samples and passes the outputs
here. Hop k diverges when its outputs differ from hop k-1's beyond the relative tolerance
of the activation stage (mean |y_k - y_{k-1}| over the larger mean magnitude), so a hop
is blamed for what it changed itself, not for what earlier hops did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convstudy.localization.comparison.difference import TOLERANCE, relative_difference
from convstudy.localization.graph.layout import align
from convstudy.localization.io.inputs import LocalizationError


@dataclass
class HopDivergence:
    """Per hop (index 1 on), the relative difference to the previous hop's outputs.

    Attributes:
        first: index of the first hop beyond tolerance (1 = the first conversion), or None.
        relative: relative difference of hop k to hop k-1, for k = 1 .. len(outputs) - 1.
        disagreement: share of samples whose top-1 label differs from the previous hop's.
        tolerance: the tolerance used.
    """

    first: int | None
    relative: list[float]
    disagreement: list[float]
    tolerance: float


def first_divergent_hop(
    outputs: Sequence[np.ndarray], *, tolerance: float = TOLERANCE
) -> HopDivergence:
    """Find the first hop whose outputs diverge from its predecessor's.

    Args:
        outputs: ``outputs[0]`` is the source model's output on the samples, ``outputs[k]``
            hop k's output on the same samples (same batch order; layouts may differ by a
            transpose, as NCHW and NHWC models' do).
        tolerance: relative tolerance (see the module docstring).

    Raises:
        LocalizationError: fewer than two outputs, or two that cannot be aligned.
    """
    if len(outputs) < 2:
        raise LocalizationError(f"hops: need the source and at least one hop, got {len(outputs)}")
    relative: list[float] = []
    disagreement: list[float] = []
    first: int | None = None
    for k in range(1, len(outputs)):
        before, after = np.asarray(outputs[k - 1]), np.asarray(outputs[k])
        aligned = align(before, after)
        if aligned is None:
            raise LocalizationError(
                f"hops: output of hop {k} has shape {after.shape}, hop {k - 1} {before.shape}"
            )
        rel = relative_difference(before, aligned)[2]
        relative.append(rel)
        labels = before.reshape(before.shape[0], -1).argmax(axis=1)
        labels_k = aligned.reshape(aligned.shape[0], -1).argmax(axis=1)
        disagreement.append(float(np.mean(labels != labels_k)))
        if first is None and not rel <= tolerance:
            first = k
    return HopDivergence(first, relative, disagreement, tolerance)
