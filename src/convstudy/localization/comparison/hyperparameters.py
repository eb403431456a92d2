"""Stage (c), hyperparameters: per matched layer, each canonical hyperparameter (kernel
size, strides, padding, dilation, groups, epsilon, activations after the core, ...)
compared between source and target."""

from __future__ import annotations

import math
from typing import Any

from convstudy.localization.comparison.result import HyperparameterRow
from convstudy.localization.graph.layers import Layer

_SKIP_HYPER = frozenset({"position", "units"})


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            return False
        return math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    return bool(x == y)


def hyperparameter_rows(
    position: int, a: Layer, b: Layer, names: tuple[str, str]
) -> list[HyperparameterRow]:
    """Stage (c) for one matched pair; a key only one side has is shown, not flagged."""
    rows = [
        HyperparameterRow(
            position=position,
            source_node=names[0],
            target_node=names[1],
            kind=a.kind,
            name="op",
            source_value=a.kind,
            target_value=b.kind,
            divergent=a.kind != b.kind,
        )
    ]
    for key in sorted((a.hyper.keys() | b.hyper.keys()) - _SKIP_HYPER):
        if key not in a.hyper or key not in b.hyper:
            rows.append(
                HyperparameterRow(
                    position=position,
                    source_node=names[0],
                    target_node=names[1],
                    kind=a.kind,
                    name=key,
                    source_value=a.hyper.get(key),
                    target_value=b.hyper.get(key),
                    divergent=False,
                )
            )
            continue
        va, vb = a.hyper[key], b.hyper[key]
        rows.append(
            HyperparameterRow(
                position=position,
                source_node=names[0],
                target_node=names[1],
                kind=a.kind,
                name=key,
                source_value=va,
                target_value=vb,
                divergent=not _same(va, vb),
            )
        )
    return rows
