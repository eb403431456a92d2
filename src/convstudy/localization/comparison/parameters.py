"""Stage (b), parameters: per matched layer, the relative difference of each canonical
parameter tensor (weights and biases of convolutions, dense, embedding and recurrent
layers, with BatchNorm and scalings folded in)."""

from __future__ import annotations

from typing import Any

import numpy as np

from convstudy.localization.comparison.difference import relative_difference
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
        rows.append(
            ParameterRow(
                **common,
                shape=list(pa.shape),
                mean_abs_diff=diff,
                source_scale=scale,
                relative=rel,
                divergent=not rel <= tolerance,
            )
        )
    return rows
