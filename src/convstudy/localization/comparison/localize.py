"""Where do two ONNX models that should compute the same function diverge?"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import onnx

from convstudy.localization.comparison import stages
from convstudy.localization.comparison.result import (
    ActivationRow,
    Divergence,
    HyperparameterRow,
    LayerMatch,
    Localization,
    OutputComparison,
    ParameterRow,
)
from convstudy.localization.graph.layers import Layer, LayerGraph
from convstudy.localization.graph.matching import Pair, align
from convstudy.localization.io.inputs import (
    InputsLike,
    LocalizationError,
    ModelLike,
    batch_size,
    feeds_for,
    load_model,
)

#: Default relative tolerance of the activation and parameter stages. Converters that
#: compute the same function agree to ~1e-6 relative (BatchNorm folding, NHWC kernels);
#: a real fault moves a layer by 1e-3 or more.
TOLERANCE = 1e-4


@dataclass
class Analysis:
    """Both layer graphs and their alignment (what the repair works from)."""

    source: LayerGraph
    target: LayerGraph
    pairs: list[Pair]

    def layers(self, pair: Pair) -> tuple[Layer | None, Layer | None]:
        """The source and target layer of one aligned row."""
        a = None if pair.source is None else self.source.layers[pair.source]
        b = None if pair.target is None else self.target.layers[pair.target]
        return a, b


def analyse(source: onnx.ModelProto, target: onnx.ModelProto) -> Analysis:
    """Read both models into layers and align them."""
    src, tgt = LayerGraph(source), LayerGraph(target)
    return Analysis(src, tgt, align(src.layers, tgt.layers))


def _matches(analysis: Analysis) -> list[LayerMatch]:
    rows = []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        rows.append(
            LayerMatch(
                position=position,
                kind=(a or b).kind,  # type: ignore[union-attr]
                source_node=None if a is None else a.name,
                target_node=None if b is None else b.name,
                source_nodes=[] if a is None else analysis.source.node_names(a),
                target_nodes=[] if b is None else analysis.target.node_names(b),
                source_tensor=None if a is None else a.output,
                target_tensor=None if b is None else b.output,
            )
        )
    return rows


def _outputs(
    analysis: Analysis, values: dict[str, tuple[np.ndarray, np.ndarray]], n: int, tolerance: float
) -> OutputComparison:
    first = analysis.source.view.outputs[0]
    s, t = values[first]
    aligned = stages.align(s, t)
    if aligned is None:
        return OutputComparison(n, 1.0, float("inf"), float("inf"), True)
    diff, _, rel = stages.relative_difference(s, aligned)
    labels_s = s.reshape(s.shape[0], -1).argmax(axis=1)
    labels_t = aligned.reshape(aligned.shape[0], -1).argmax(axis=1)
    disagreement = float(np.mean(labels_s != labels_t))
    divergent = not rel <= tolerance
    for name, (s_i, t_i) in values.items():
        if name == first:
            continue
        other = stages.align(s_i, t_i)
        rel_i = 1.0 if other is None else stages.relative_difference(s_i, other)[2]
        divergent = divergent or not rel_i <= tolerance
    return OutputComparison(n, disagreement, diff, rel, divergent)


def _specific_node(analysis: Analysis, layer: Layer, names: list[str]) -> str:
    """The node inside a target layer that a hyperparameter difference points at."""
    view = analysis.target.view
    if "epsilon" in names and layer.folded is not None:
        bns = [i for i in layer.folded.nodes if view.nodes[i].op_type == "BatchNormalization"]
        if bns:
            return view.label(bns[0])
    if "pads" in names and layer.pads:
        return view.label(layer.pads[0])
    if "post_ops" in names and layer.steps:
        return view.label(layer.steps[0].nodes[0])
    return layer.name


def _first_divergent(
    analysis: Analysis,
    params: list[ParameterRow],
    hypers: list[HyperparameterRow],
    acts: list[ActivationRow],
    outputs: OutputComparison,
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
            value = 1.0 if worst.relative is None else worst.relative
            detail = "; ".join(f"{r.parameter}: {r.note or f'{r.relative:.3g}'}" for r in rows_p)
            return Divergence(
                source_node=a.name,
                target_node=b.name,
                op_type=b.op_type,
                stage="parameters",
                metric="relative_mean_abs_diff",
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


def localize(
    source: ModelLike,
    target: ModelLike,
    source_inputs: InputsLike,
    target_inputs: InputsLike,
    *,
    tolerance: float = TOLERANCE,
    parameter_tolerance: float | None = None,
    mode: str = "segments",
    per_segment: int = 6,
) -> Localization:
    """Find where ``target`` first diverges from ``source``.

    Args:
        source, target: ONNX models (``onnx.ModelProto`` or paths), possibly from different
            converters.
        source_inputs, target_inputs: the same samples in each model's own input layout
            and dtype (an array, a sequence in input order, or a name -> array mapping).
            Pass samples on which the outputs disagree.
        tolerance: a layer's output diverges when mean |s - t| exceeds ``tolerance`` times
            its own output scale (the larger of mean |s| and mean |t|).
        parameter_tolerance: the same rule for parameter tensors (default: ``tolerance``).
        mode: "segments" (bounded memory) or "all" (every probed tensor of one run at once).
        per_segment: probed tensors per segment in "segments" mode.

    Raises:
        LocalizationError: (a ``ConvstudyError``) for a file that is not an ONNX model,
            inputs that do not fit a model, or batches of different sizes.
    """
    if not tolerance > 0:
        raise LocalizationError(f"tolerance must be positive, got {tolerance}")
    p_tol = tolerance if parameter_tolerance is None else parameter_tolerance
    src_model = load_model(source, "source")
    tgt_model = load_model(target, "target")
    src_feeds = feeds_for(src_model, source_inputs, "source")
    tgt_feeds = feeds_for(tgt_model, target_inputs, "target")
    n_src, n_tgt = batch_size(src_feeds, "source"), batch_size(tgt_feeds, "target")
    if n_src != n_tgt:
        raise LocalizationError(f"inputs: source batch has {n_src} samples, target {n_tgt}")
    if len(src_model.graph.output) != len(tgt_model.graph.output):
        raise LocalizationError(
            f"models have {len(src_model.graph.output)} and {len(tgt_model.graph.output)} outputs"
        )
    started = time.perf_counter()
    analysis = analyse(src_model, tgt_model)
    params: list[ParameterRow] = []
    hypers: list[HyperparameterRow] = []
    probes: list[stages.Probe] = []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        if a is None or b is None:
            continue
        names = (a.name, b.name)
        params += stages.parameter_rows(position, a, b, names, p_tol)
        hypers += stages.hyperparameter_rows(position, a, b, names)
        probes.append(
            stages.Probe(position, a.name, b.name, a.kind, a.output, b.output, a.perm, b.perm)
        )
    extra = list(zip(analysis.source.view.outputs, analysis.target.view.outputs, strict=True))
    acts, out_values, facts = stages.activation_rows(
        analysis.source,
        analysis.target,
        probes,
        src_feeds,
        tgt_feeds,
        tolerance,
        mode=mode,
        per_segment=per_segment,
        extra=extra,
    )
    outputs = _outputs(analysis, out_values, n_src, tolerance)
    first = _first_divergent(analysis, params, hypers, acts, outputs)
    facts["seconds"] = round(time.perf_counter() - started, 3)
    facts["source_layers"] = len(analysis.source.layers)
    facts["target_layers"] = len(analysis.target.layers)
    return Localization(
        first_divergent=first,
        tolerance=tolerance,
        parameter_tolerance=p_tol,
        matches=_matches(analysis),
        parameters=params,
        hyperparameters=hypers,
        activations=acts,
        outputs=outputs,
        run=facts,
    )
