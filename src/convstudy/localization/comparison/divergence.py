"""The verdict: the first place, in the aligned layer order, where the stages found a
divergence (a layer's hyperparameters before its parameters before its output), or a
layer only one model has just before the outputs start to diverge."""

from __future__ import annotations

from convstudy.localization.comparison.result import (
    ActivationRow,
    Divergence,
    HyperparameterRow,
    OutputComparison,
    ParameterRow,
)
from convstudy.localization.graph.layers import Layer
from convstudy.localization.graph.matching import Analysis


def _specific_node(analysis: Analysis, layer: Layer, names: list[str]) -> str:
    """The node inside a target layer that a hyperparameter difference points at."""
    view = analysis.target.view
    if "epsilon" in names and layer.folded is not None:
        bns = [i for i in layer.folded.nodes if view.nodes[i].op_type == "BatchNormalization"]
        if bns:
            return view.label(bns[0])
    if "pads" in names and layer.pads:
        return view.label(layer.pads[0])
    if "post_ops" in names and layer.post_ops:
        return view.label(layer.post_ops[0].nodes[0])
    return layer.name


def _mean_within(row: ParameterRow, tolerance: float) -> bool:
    """Whether the row's mean difference alone is within what it may show."""
    return row.relative is not None and (row.expected > 0 or row.relative <= tolerance)


def _parameter_detail(row: ParameterRow, tolerance: float) -> str:
    if row.note and row.relative is None:
        return f"{row.parameter}: {row.note}"
    if _mean_within(row, tolerance):
        where = "beyond its storage grid" if row.expected > 0 else f"mean {row.relative:.3g}"
        return f"{row.parameter}: largest element {row.max_relative:.3g} of its scale ({where})"
    return f"{row.parameter}: {row.relative:.3g}"


def first_divergence(
    analysis: Analysis,
    params: list[ParameterRow],
    hypers: list[HyperparameterRow],
    acts: list[ActivationRow],
    outputs: OutputComparison,
    parameter_tolerance: float,
) -> Divergence | None:
    by_pos_hyper: dict[int, list[HyperparameterRow]] = {}
    for h in hypers:
        if h.divergent:
            by_pos_hyper.setdefault(h.position, []).append(h)
    by_pos_param: dict[int, list[ParameterRow]] = {}
    for p in params:
        if p.divergent:
            by_pos_param.setdefault(p.position, []).append(p)
    act_at = {a.position: a for a in acts}
    first_act = min((a.position for a in acts if a.divergent), default=None)
    if first_act is None and outputs.divergent:
        first_act = len(analysis.pairs)
    suspect = None
    if first_act is not None:
        fine = [a.position for a in acts if not a.divergent and a.position < first_act]
        last_fine = max(fine, default=-1)
        gaps = [
            k
            for k in range(last_fine + 1, first_act)
            if analysis.pairs[k].source is None or analysis.pairs[k].target is None
        ]
        suspect = gaps[0] if gaps else None
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        if position == suspect:
            layer = a or b
            assert layer is not None
            side = "target" if a is None else "source"
            return Divergence(
                source_node=None if a is None else a.name,
                target_node=None if b is None else b.name,
                op_type=layer.op_type,
                stage="structure",
                metric=f"unmatched_{side}_layer",
                value=1.0,
                detail=f"{layer.kind} {layer.name!r} exists only in the {side}; "
                "outputs diverge after it",
            )
        if a is None or b is None:
            continue
        if position in by_pos_hyper:
            rows = by_pos_hyper[position]
            names = [r.name for r in rows]
            detail = "; ".join(f"{r.name}: {r.source_value} -> {r.target_value}" for r in rows)
            return Divergence(
                source_node=a.name,
                target_node=_specific_node(analysis, b, names),
                op_type=b.op_type,
                stage="hyperparameters",
                metric=",".join(names),
                value=float(len(rows)),
                detail=detail,
            )
        if position in by_pos_param:
            rows_p = by_pos_param[position]
            worst = max(rows_p, key=lambda r: -1.0 if r.relative is None else r.relative)
            metric, value = (
                "relative_mean_abs_diff",
                1.0 if worst.relative is None else worst.relative,
            )
            if all(_mean_within(r, parameter_tolerance) for r in rows_p):
                # one element (or a few) beyond: the largest names it
                worst = max(rows_p, key=lambda r: r.max_relative or 0.0)
                metric, value = "relative_max_abs_diff", worst.max_relative or 0.0
            detail = "; ".join(_parameter_detail(r, parameter_tolerance) for r in rows_p)
            return Divergence(
                source_node=a.name,
                target_node=b.name,
                op_type=b.op_type,
                stage="parameters",
                metric=metric,
                value=value,
                detail=detail,
            )
        if position == first_act and position in act_at:
            row = act_at[position]
            return Divergence(
                source_node=a.name,
                target_node=b.name,
                op_type=b.op_type,
                stage="activations",
                metric="relative_mean_abs_diff",
                value=1.0 if row.relative is None else row.relative,
                detail=row.note
                or f"mean |diff| {row.mean_abs_diff:.3g} on scale {row.source_scale:.3g}",
            )
    if outputs.divergent:
        return Divergence(
            source_node=None,
            target_node=None,
            op_type="Output",
            stage="activations",
            metric="relative_mean_abs_diff",
            value=outputs.relative,
            detail="graph outputs diverge but no layer does",
        )
    return None
