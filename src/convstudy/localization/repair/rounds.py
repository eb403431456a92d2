"""Repairing a target model from its source, guided by a localization.

Graph repairs come first (they change what the parameters mean): hyperparameters set to
the source's (strides, dilations, group, padding, with a target's ``Pad`` node bypassed
and its padding moved into the convolution; BatchNorm epsilon; recurrent activations;
a pool's type), the trailing activation/scaling steps rewritten to the source's
(an inserted node bypassed, a dropped activation put back, a swapped one replaced), and
blamed layers that exist only in the target bypassed. Then parameter repairs write each
divergent layer's canonical source parameters back into the target through the inverse
of the transforms that made them canonical (Gemm's transposition and scaling, a flatten's
feature order, a folded BatchNorm or Mul kept and compensated, recurrent biases split,
Keras GRU loops' layouts). Each round is re-analysed; the result reports the top-1
disagreement and the output error before and after, and a repair that does not reduce
them is reported as failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from convstudy.localization.comparison import stages
from convstudy.localization.comparison.localize import Analysis, analyse
from convstudy.localization.comparison.result import Localization
from convstudy.localization.comparison.runner import run
from convstudy.localization.graph.layers import Layer, LayerGraph
from convstudy.localization.graph.layout import inverse
from convstudy.localization.graph.steps import Step, channel_vector
from convstudy.localization.io.inputs import (
    InputsLike,
    LocalizationError,
    ModelLike,
    feeds_for,
    load_model,
)
from convstudy.localization.repair import surgery

#: Share of labels that may still differ for a repair to count as complete.
DISAGREEMENT_GOAL = 0.001
#: Without fewer changed labels, a repair must bring the error down to this share of it.
ERROR_GAIN = 0.5


@dataclass
class RepairAction:
    """One edit of the target graph."""

    target_node: str
    action: str
    detail: str


@dataclass
class RepairResult:
    """What the repair did and what it achieved on the evaluation inputs.

    Attributes:
        actions: the edits, in order.
        n_inputs: samples the before/after numbers are measured on.
        disagreement_before, disagreement_after: share of samples whose top-1 label differs
            from the source's.
        error_before, error_after: relative mean |y_source - y_target| of the first output.
        success: the repair reduced the output error, did not increase the disagreement,
            and either reduced the disagreement or at least halved the error
            (:data:`ERROR_GAIN`): a change within rounding noise is not a repair.
        complete: success, with the disagreement at most 0.1% and no divergence left.
        remaining: divergent layers still found after the last round (source node names).
        reason: why it failed, when it did.
    """

    actions: list[RepairAction]
    n_inputs: int
    disagreement_before: float
    disagreement_after: float
    error_before: float
    error_after: float
    success: bool
    complete: bool
    remaining: list[str] = field(default_factory=list)
    reason: str = ""


# -- helpers -----------------------------------------------------------------------------
def _dtype(graph: LayerGraph, name: str) -> np.dtype:
    value = graph.view.const(name) if name else None
    if value is not None and np.issubdtype(value.dtype, np.floating):
        return value.dtype
    return np.dtype(np.float32)


def _set_input(model: onnx.ModelProto, node: onnx.NodeProto, slot: int, value: np.ndarray) -> str:
    base = f"{node.name or node.op_type}_repaired_{slot}"
    name = surgery.add_initializer(model, base, np.ascontiguousarray(value))
    while len(node.input) <= slot:
        node.input.append("")
    node.input[slot] = name
    return name


def _bypass(graph: LayerGraph, index: int) -> None:
    node = graph.view.nodes[index]
    data = graph.view.data_inputs(index)
    surgery.make_identity(node, data[0] if data else node.input[0])


def _affine_vectors(step: Step | None, axis: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    if step is None or step.scale is None or step.shift is None:
        return np.ones(size), np.zeros(size)
    scale = channel_vector(step.scale, axis)
    shift = channel_vector(step.shift, axis)
    assert scale is not None and shift is not None
    return np.broadcast_to(scale, (size,)).copy(), np.broadcast_to(shift, (size,)).copy()


def _add_bias_after(
    model: onnx.ModelProto, graph: LayerGraph, layer: Layer, bias: np.ndarray, dtype: np.dtype
) -> None:
    """Insert ``Add(bias)`` (of the core's parameter ``dtype``) right after the core (for
    cores without a bias input)."""
    assert layer.core is not None
    core = graph.view.nodes[layer.core]
    rank = graph._rank(core.output[0]) or 2
    value = bias.astype(dtype).reshape((1,) * (rank - 1) + (-1,))
    name = surgery.add_initializer(model, f"{core.name or 'core'}_repaired_bias", value)
    surgery.insert_after(model, core.output[0], "Add", [name])


# -- parameter repair --------------------------------------------------------------------
def _repair_parameters(
    model: onnx.ModelProto, graph: LayerGraph, src: Layer, dst: Layer
) -> list[RepairAction]:
    kind = dst.kind
    assert dst.core is not None
    core = graph.view.nodes[dst.core]
    label = graph.view.label(dst.core)
    if kind == "conv":
        return _repair_conv(model, graph, src, dst, core, label)
    if kind == "dense":
        return _repair_dense(model, graph, src, dst, core, label)
    if kind == "embedding":
        return _repair_embedding(model, graph, src, dst, core, label)
    if dst.family == "recurrent" and src.family == "recurrent":
        return _repair_recurrent(model, graph, src, dst, core, label)
    return []


def _repair_conv(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src: Layer,
    dst: Layer,
    core: onnx.NodeProto,
    label: str,
) -> list[RepairAction]:
    weight, bias = src.params["weight"], src.params["bias"]
    out = weight.shape[0]
    scale, shift = _affine_vectors(dst.folded, 1, out)
    actions = []
    if dst.folded is not None and np.min(np.abs(scale)) < 1e-12:
        for index in dst.folded.nodes:
            _bypass(graph, index)
        actions.append(RepairAction(label, "bypass_nodes", "non-invertible folded scale removed"))
        scale, shift = np.ones(out), np.zeros(out)
    dtype = _dtype(graph, core.input[1])
    _set_input(model, core, 1, (weight / scale.reshape(-1, 1, 1, 1)).astype(dtype))
    _set_input(model, core, 2, ((bias - shift) / scale).astype(dtype))
    what = "weight, bias" + (" (through the following affine nodes)" if dst.folded else "")
    actions.append(RepairAction(label, "copy_parameters", what))
    return actions


def _repair_dense(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src: Layer,
    dst: Layer,
    core: onnx.NodeProto,
    label: str,
) -> list[RepairAction]:
    weight, bias = src.params["weight"], src.params["bias"]
    order = dst.binding.get("order")
    if order is not None:
        weight = weight[:, order]
    dtype = _dtype(graph, core.input[1])
    out = weight.shape[0]
    if dst.op_type == "Gemm":
        scale, shift = _affine_vectors(dst.folded, -1, out)
        if np.min(np.abs(scale)) < 1e-12:
            for index in dst.folded.nodes if dst.folded else []:
                _bypass(graph, index)
            scale, shift = np.ones(out), np.zeros(out)
        alpha, beta = dst.binding["alpha"], dst.binding["beta"]
        core_w = weight / scale[:, None] / alpha
        _set_input(model, core, 1, (core_w if dst.binding["trans_b"] else core_w.T).astype(dtype))
        _set_input(model, core, 2, ((bias - shift) / scale / beta).astype(dtype))
        return [RepairAction(label, "copy_parameters", "weight, bias")]
    # MatMul: the bias lives in the affine nodes after it; rewrite them as one Add.
    for index in dst.folded.nodes if dst.folded else []:
        _bypass(graph, index)
    _set_input(model, core, 1, np.ascontiguousarray(weight.T).astype(dtype))
    if np.any(bias != 0):  # the dtype read before the weight's input was renamed
        _add_bias_after(model, graph, dst, bias, dtype)
    return [RepairAction(label, "copy_parameters", "weight; bias as one Add after the MatMul")]


def _repair_embedding(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src: Layer,
    dst: Layer,
    core: onnx.NodeProto,
    label: str,
) -> list[RepairAction]:
    for index in dst.folded.nodes if dst.folded else []:
        _bypass(graph, index)
    dtype = _dtype(graph, core.input[0])
    _set_input(model, core, 0, src.params["weight"].astype(dtype))
    return [RepairAction(label, "copy_parameters", "embedding table")]


def _recurrent_biases(src: Layer, dst: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(input bias, recurrent bias) in ONNX gate order for the target's formulation."""
    bias = src.params["bias"]
    if dst.hyper.get("cell") != "GRU":
        return bias, np.zeros_like(bias)
    hidden = int(dst.hyper["hidden_size"])
    rec = np.zeros_like(bias)
    rec[:, 2 * hidden :] = src.params.get("recurrence_bias_h", np.zeros_like(bias[:, :hidden]))
    return bias, rec


def _repair_recurrent(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src: Layer,
    dst: Layer,
    core: onnx.NodeProto,
    label: str,
) -> list[RepairAction]:
    w, r = src.params["weight"], src.params["recurrence"]
    w_b, r_b = _recurrent_biases(src, dst)
    form = dst.binding.get("form")
    if form == "node":
        dtype = _dtype(graph, core.input[1])
        _set_input(model, core, 1, w.astype(dtype))
        _set_input(model, core, 2, r.astype(dtype))
        _set_input(model, core, 3, np.concatenate([w_b, r_b], axis=1).astype(dtype))
        if "peephole" in src.params:
            _set_input(model, core, 7, src.params["peephole"].astype(dtype))
        return [RepairAction(label, "copy_parameters", "W, R, B (biases merged)")]
    if form == "keras_loop":
        binding = dst.binding
        dtype = _dtype(graph, binding["kernel"])
        values = {
            binding["kernel"]: w[0].T,
            binding["recurrent_kernel"]: r[0].T,
            binding["bias"]: (
                np.stack([w_b[0], r_b[0]])
                if dst.hyper.get("linear_before_reset")
                else w_b[0] + r_b[0]
            ),
        }
        for name, value in values.items():
            slot = list(core.input).index(name)
            _set_input(model, core, slot, value.astype(dtype))
        return [
            RepairAction(label, "copy_parameters", "kernel, recurrent kernel, bias (Keras layout)")
        ]
    return []


# -- graph repair ------------------------------------------------------------------------
def _repair_hyper(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src_graph: LayerGraph,
    src: Layer,
    dst: Layer,
    names: list[str],
) -> list[RepairAction]:
    actions: list[RepairAction] = []
    if dst.core is None:
        if "post_ops" in names:
            actions += _rewrite_steps(model, graph, src_graph, src, dst)
        return actions
    core = graph.view.nodes[dst.core]
    label = graph.view.label(dst.core)
    if "op" in names and src.core is not None:
        src_core = src_graph.view.nodes[src.core]
        if len(src_core.input) == len(core.input) or dst.family in ("pool", "global_pool"):
            old = core.op_type
            core.op_type = src_core.op_type
            del core.attribute[:]
            core.attribute.extend(src_core.attribute)
            actions.append(RepairAction(label, "change_op", f"{old} -> {core.op_type}"))
    for key in ("strides", "dilations", "group", "kernel_shape", "ceil_mode", "count_include_pad"):
        if key in names and key in src.hyper:
            surgery.set_attribute(core, key, src.hyper[key])
            actions.append(RepairAction(label, "set_attribute", f"{key} = {src.hyper[key]}"))
    if "pads" in names:
        for index in dst.pads:
            _bypass(graph, index)
            actions.append(
                RepairAction(
                    graph.view.label(index), "bypass_node", "Pad folded into the convolution"
                )
            )
        pads = src.hyper["pads"]
        if isinstance(pads, str):
            surgery.set_attribute(core, "pads", None)
            surgery.set_attribute(core, "auto_pad", pads)
        else:
            surgery.set_attribute(core, "auto_pad", None)
            surgery.set_attribute(core, "pads", [int(p) for p in pads])
        actions.append(RepairAction(label, "set_attribute", f"pads = {pads}"))
    if "epsilon" in names and dst.folded is not None:
        bns = [i for i in dst.folded.nodes if graph.view.nodes[i].op_type == "BatchNormalization"]
        for index, eps in zip(bns, src.hyper.get("epsilon", []), strict=False):
            surgery.set_attribute(graph.view.nodes[index], "epsilon", float(eps))
            actions.append(
                RepairAction(graph.view.label(index), "set_attribute", f"epsilon = {eps}")
            )
    recurrent_keys = (
        "activations",
        "direction",
        "clip",
        "linear_before_reset",
        "input_forget",
        "layout",
    )
    if dst.family == "recurrent" and any(k in names for k in recurrent_keys):
        actions += _repair_recurrent_hyper(graph, src, dst, core, label, names)
    if "post_ops" in names:
        actions += _rewrite_steps(model, graph, src_graph, src, dst)
    return actions


def _repair_recurrent_hyper(
    graph: LayerGraph, src: Layer, dst: Layer, core: onnx.NodeProto, label: str, names: list[str]
) -> list[RepairAction]:
    actions = []
    if core.op_type == "Loop":
        if "activations" in names:
            src_acts, dst_acts = list(src.hyper["activations"]), list(dst.hyper["activations"])
            body = onnx.helper.get_attribute_value(
                next(a for a in core.attribute if a.name == "body")
            )
            mapping = _activation_mapping(dst_acts, src_acts)
            for inner in body.node:
                if inner.op_type in mapping:
                    inner.op_type = mapping[inner.op_type]
            surgery.set_attribute(core, "body", body)
            actions.append(RepairAction(label, "replace_activation", f"loop body {mapping}"))
        return actions
    for key in (
        "activations",
        "direction",
        "clip",
        "linear_before_reset",
        "input_forget",
        "layout",
    ):
        if key in names and key in src.hyper:
            value = src.hyper[key]
            surgery.set_attribute(core, key, value)
            actions.append(RepairAction(label, "set_attribute", f"{key} = {value}"))
    return actions


def _activation_mapping(dst: list[str], src: list[str]) -> dict[str, str]:
    """Op types to rename in a GRU loop body, from its [f, g] (or a raw list) to the source's."""
    if len(dst) == 2 and len(src) == 2 and dst[0] != dst[1]:
        return {d: s for d, s in zip(dst, src, strict=True) if d != s}
    if len(dst) == 3 and len(src) == 2:  # gates not uniform: set every gate op to f
        return {a: src[0] for a in dst if a not in (src[1],)}
    return {}


def _rewrite_steps(
    model: onnx.ModelProto, graph: LayerGraph, src_graph: LayerGraph, src: Layer, dst: Layer
) -> list[RepairAction]:
    """Replace the target layer's trailing steps by the source layer's."""
    actions = []
    end = dst.output
    for step in dst.steps:
        for index in step.nodes:
            if index == dst.core:
                continue
            actions.append(
                RepairAction(graph.view.label(index), "bypass_node", f"step {step.name}")
            )
            _bypass(graph, index)
    for step in src.steps:
        if step.kind == "act":
            node = src_graph.view.nodes[step.nodes[-1]]
            extra = []
            for name in list(node.input)[1:]:
                value = src_graph.view.const(name) if name else None
                extra.append(
                    surgery.add_initializer(model, "repaired_const", value)
                    if value is not None
                    else ""
                )
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if "axis" in attrs and src.perm is not None and dst.perm is not None:
                native = src.perm[int(attrs["axis"]) % len(src.perm)]
                attrs["axis"] = int(inverse(dst.perm)[native])
            new = surgery.insert_after(model, end, node.op_type, extra, **attrs)
            actions.append(
                RepairAction(new.name, "insert_node", f"{node.op_type} as in the source")
            )
        else:
            assert step.scale is not None and step.shift is not None
            dtype = _dtype(graph, "")
            scale, shift = step.scale, step.shift
            if dst.perm is not None and len(dst.perm) == scale.ndim:
                scale, shift = np.transpose(scale, dst.perm), np.transpose(shift, dst.perm)
            mul = surgery.add_initializer(model, "repaired_scale", scale.astype(dtype))
            add = surgery.add_initializer(model, "repaired_shift", shift.astype(dtype))
            surgery.insert_after(model, end, "Mul", [mul])
            new = surgery.insert_after(model, end, "Add", [add])
            actions.append(RepairAction(new.name, "insert_node", "affine step as in the source"))
    return actions


def _bypassable(graph: LayerGraph, layer: Layer) -> bool:
    if layer.core is None:
        return False
    data = graph.view.data_inputs(layer.core)
    if len(data) != 1:
        return False
    before, after = graph.view.shape(data[0]), graph.view.shape(layer.output)
    return before is not None and before == after


# -- driver ------------------------------------------------------------------------------
def _divergent_pairs(
    analysis: Analysis, tolerance: float
) -> tuple[list[tuple[Layer, Layer, list[str]]], list[tuple[Layer, Layer]]]:
    hyper, params = [], []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        if a is None or b is None:
            continue
        names = (a.name, b.name)
        h = [r.name for r in stages.hyperparameter_rows(position, a, b, names) if r.divergent]
        if h:
            hyper.append((a, b, h))
        if any(r.divergent for r in stages.parameter_rows(position, a, b, names, tolerance)):
            params.append((a, b))
    return hyper, params


def _measure(
    source: onnx.ModelProto,
    target: onnx.ModelProto,
    source_feeds: Mapping[str, np.ndarray],
    target_feeds: Mapping[str, np.ndarray],
) -> tuple[float, float]:
    """(top-1 disagreement, relative output error) of ``target`` against ``source``."""
    s = run(source, source_feeds)[0]
    t = run(target, target_feeds)[0]
    aligned = stages.align(s, t)
    if aligned is None:
        return 1.0, float("inf")
    rel = stages.relative_difference(s, aligned)[2]
    labels = s.reshape(s.shape[0], -1).argmax(axis=1)
    labels_t = aligned.reshape(aligned.shape[0], -1).argmax(axis=1)
    return float(np.mean(labels != labels_t)), rel


def repair(
    source: ModelLike,
    target: ModelLike,
    localization: Localization,
    *,
    source_inputs: InputsLike,
    target_inputs: InputsLike,
    max_rounds: int = 4,
) -> tuple[onnx.ModelProto, RepairResult]:
    """Repair ``target`` towards ``source`` and measure the effect.

    Args:
        source, target: the models given to :func:`~convstudy.localization.comparison.localize`.
        localization: its result; a layer it blamed that exists only in the target is
            bypassed, and nothing is changed when it found no divergence.
        source_inputs, target_inputs: evaluation samples (each model's layout) on which the
            disagreement and output error are measured before and after.
        max_rounds: analyse-and-repair rounds at most.

    Returns:
        The repaired model (a new ``ModelProto``; ``target`` is not modified) and what the
        repair did and achieved.
    """
    src_model = load_model(source, "source")
    original = load_model(target, "target")
    src_feeds = feeds_for(src_model, source_inputs, "source")
    tgt_feeds = feeds_for(original, target_inputs, "target")
    n = next(iter(src_feeds.values())).shape[0]
    dis_before, err_before = _measure(src_model, original, src_feeds, tgt_feeds)
    model = surgery.copy_model(original)
    actions: list[RepairAction] = []
    tolerance = localization.parameter_tolerance
    remaining: list[str] = []
    if localization.first_divergent is not None:
        first = localization.first_divergent
        for round_ in range(max_rounds):
            analysis = analyse(src_model, model)
            hyper, params = _divergent_pairs(analysis, tolerance)
            done: list[RepairAction] = []
            if round_ == 0 and first.stage == "structure" and first.source_node is None:
                layer = analysis.target.layer_of_node(first.target_node or "")
                if layer is not None and _bypassable(analysis.target, layer):
                    for index in layer.nodes:
                        if index == layer.core or any(index in s.nodes for s in layer.steps):
                            _bypass(analysis.target, index)
                    done.append(RepairAction(layer.name, "bypass_node", "layer only in the target"))
            for a, b, names in hyper:
                done += _repair_hyper(model, analysis.target, analysis.source, a, b, names)
            if not done:
                for a, b in params:
                    done += _repair_parameters(model, analysis.target, a, b)
            if not done:
                remaining = [a.name for a, _, _ in hyper] + [a.name for a, _ in params]
                break
            actions += done
            surgery.remove_unused_initializers(model)
        else:
            analysis = analyse(src_model, model)
            hyper, params = _divergent_pairs(analysis, tolerance)
            remaining = [a.name for a, _, _ in hyper] + [a.name for a, _ in params]
    try:
        onnx.checker.check_model(model)
        dis_after, err_after = _measure(src_model, model, src_feeds, tgt_feeds)
        reason = ""
    except Exception as exc:  # noqa: BLE001 - a broken repair is a result, reported as failed
        dis_after, err_after = 1.0, float("inf")
        reason = f"repaired model does not run: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    improved = (
        err_after < err_before
        and dis_after <= dis_before
        and (dis_after < dis_before or err_after <= ERROR_GAIN * err_before)
    )
    if dis_before > 0:
        improved = improved and dis_after < dis_before
    if localization.first_divergent is None:
        reason = reason or "nothing to repair: the localization found no divergence"
        improved = False
    elif not actions:
        reason = reason or "no repair applies to the divergence found"
    elif not improved and not reason:
        reason = (
            f"disagreement {dis_before:.4f} -> {dis_after:.4f}, "
            f"error {err_before:.3g} -> {err_after:.3g}: not reduced"
        )
    complete = improved and dis_after <= DISAGREEMENT_GOAL and not remaining
    return model, RepairResult(
        actions=actions,
        n_inputs=n,
        disagreement_before=dis_before,
        disagreement_after=dis_after,
        error_before=err_before,
        error_after=err_after,
        success=improved,
        complete=complete,
        remaining=remaining,
        reason=reason,
    )


def describe(result: RepairResult) -> dict[str, Any]:
    """The result as plain values (for JSON and tables)."""
    from dataclasses import asdict

    return asdict(result)


__all__ = ["LocalizationError", "RepairAction", "RepairResult", "describe", "repair"]
