"""Stage (b), parameters: per matched layer, the relative difference of each canonical
parameter tensor (weights and biases of convolutions, dense, embedding and recurrent
layers, with BatchNorm and scalings folded in).

A tensor diverges when the mean of |s - t| over the tensor, or its largest element, goes
beyond the tolerance times the tensor's scale (mean |s|): the largest element catches one
corrupted value that the mean of a large tensor hides. A weight stored on a grid (a
quantized model) may differ by half its grid step in each element: that much is expected
(reported as ``expected``), and only what goes beyond it counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convstudy.localization.comparison.difference import TINY, relative_difference
from convstudy.localization.comparison.result import ParameterRow
from convstudy.localization.graph.layers import Layer


def parameter_rows(
    position: int, a: Layer, b: Layer, names: tuple[str, str], tolerance: float
) -> list[ParameterRow]:
    """Stage (b) for one matched pair."""
    rows: list[ParameterRow] = []
    for key in sorted(a.params.keys() | b.params.keys()):
        pa, pb = a.params.get(key), b.params.get(key)
        common: dict[str, Any] = {
            "position": position,
            "source_node": names[0],
            "target_node": names[1],
            "kind": a.kind,
            "parameter": key,
        }
        if pa is None or pb is None:
            present = pa if pa is not None else pb
            assert present is not None
            side = "source" if pa is not None else "target"
            rows.append(
                ParameterRow(
                    **common,
                    shape=list(present.shape),
                    mean_abs_diff=None,
                    source_scale=float(np.mean(np.abs(pa))) if pa is not None else 0.0,
                    relative=None,
                    divergent=False,
                    note=f"only in {side}",
                )
            )
            continue
        if pa.shape != pb.shape:
            rows.append(
                ParameterRow(
                    **common,
                    shape=list(pa.shape),
                    mean_abs_diff=None,
                    source_scale=float(np.mean(np.abs(pa))),
                    relative=None,
                    divergent=True,
                    note=f"shape {tuple(pa.shape)} vs {tuple(pb.shape)}",
                )
            )
            continue
        diff, scale, rel = relative_difference(pa, pb)
        gap = np.abs(pa.astype(np.float64) - pb.astype(np.float64))
        grid = _grid(a, b, key, pa.shape)
        largest = float(np.max(gap)) if gap.size else 0.0
        beyond = float(np.max(gap - grid / 2)) if gap.size else 0.0
        base = max(scale, float(np.mean(np.abs(pb))) if pb.size else 0.0, TINY)
        expected = float(np.mean(grid)) / 4 / base if grid.any() else 0.0
        divergent = not beyond / base <= tolerance
        if not grid.any():
            divergent = divergent or not rel <= tolerance
        rows.append(
            ParameterRow(
                **common,
                shape=list(pa.shape),
                mean_abs_diff=diff,
                source_scale=scale,
                relative=rel,
                divergent=divergent,
                max_abs_diff=largest,
                max_relative=largest / base,
                expected=expected,
                note="" if not grid.any() or divergent else "within the storage grid",
            )
        )
    return rows


def _grid(a: Layer, b: Layer, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The grid step each element may differ by: the sum of both sides' steps (a float
    side has none)."""
    total = np.zeros(shape)
    for layer in (a, b):
        step = layer.steps.get(key)
        if step is not None and step.shape == shape:
            total = total + step
    return total
