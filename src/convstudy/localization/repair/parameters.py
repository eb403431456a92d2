"""Parameter repair: a divergent layer's canonical source parameters written back into the
target through the inverse of the transforms that made them canonical (Gemm's
transposition and scaling, a flatten's feature order, a folded BatchNorm or Mul kept and
compensated, recurrent biases split, Keras GRU loops' layouts)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from convstudy.localization.graph.layers import Layer, LayerGraph
from convstudy.localization.graph.post_ops import PostOp, channel_vector
from convstudy.localization.repair import surgery
from convstudy.localization.repair.edits import bypass, param_dtype, set_input
from convstudy.localization.repair.result import RepairAction

ParameterCopy = Callable[
    [onnx.ModelProto, LayerGraph, Layer, Layer, onnx.NodeProto, str], list[RepairAction]
]


def _affine_vectors(folded: PostOp | None, axis: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    if folded is None or folded.scale is None or folded.shift is None:
        return np.ones(size), np.zeros(size)
    scale = channel_vector(folded.scale, axis)
    shift = channel_vector(folded.shift, axis)
    assert scale is not None and shift is not None
    return np.broadcast_to(scale, (size,)).copy(), np.broadcast_to(shift, (size,)).copy()


def _add_bias_after(
    model: onnx.ModelProto, graph: LayerGraph, layer: Layer, bias: np.ndarray, dtype: np.dtype
) -> None:
    """Insert ``Add(bias)`` (of the core's parameter ``dtype``) right after the core (for
    cores without a bias input)."""
    assert layer.core is not None
    core = graph.view.nodes[layer.core]
    rank = graph.roles.rank(core.output[0]) or 2
    value = bias.astype(dtype).reshape((1,) * (rank - 1) + (-1,))
    name = surgery.add_initializer(model, f"{core.name or 'core'}_repaired_bias", value)
    surgery.insert_after(model, core.output[0], "Add", [name])


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
            bypass(graph, index)
        actions.append(RepairAction(label, "bypass_nodes", "non-invertible folded scale removed"))
        scale, shift = np.ones(out), np.zeros(out)
    dtype = param_dtype(graph, core.input[1])
    set_input(model, core, 1, (weight / scale.reshape(-1, 1, 1, 1)).astype(dtype))
    set_input(model, core, 2, ((bias - shift) / scale).astype(dtype))
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
    dtype = param_dtype(graph, core.input[1])
    out = weight.shape[0]
    if dst.op_type == "Gemm":
        scale, shift = _affine_vectors(dst.folded, -1, out)
        if np.min(np.abs(scale)) < 1e-12:
            for index in dst.folded.nodes if dst.folded else []:
                bypass(graph, index)
            scale, shift = np.ones(out), np.zeros(out)
        alpha, beta = dst.binding["alpha"], dst.binding["beta"]
        core_w = weight / scale[:, None] / alpha
        set_input(model, core, 1, (core_w if dst.binding["trans_b"] else core_w.T).astype(dtype))
        set_input(model, core, 2, ((bias - shift) / scale / beta).astype(dtype))
        return [RepairAction(label, "copy_parameters", "weight, bias")]
    # MatMul: the bias lives in the affine nodes after it; rewrite them as one Add.
    for index in dst.folded.nodes if dst.folded else []:
        bypass(graph, index)
    set_input(model, core, 1, np.ascontiguousarray(weight.T).astype(dtype))
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
        bypass(graph, index)
    dtype = param_dtype(graph, core.input[0])
    set_input(model, core, 0, src.params["weight"].astype(dtype))
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
        dtype = param_dtype(graph, core.input[1])
        set_input(model, core, 1, w.astype(dtype))
        set_input(model, core, 2, r.astype(dtype))
        set_input(model, core, 3, np.concatenate([w_b, r_b], axis=1).astype(dtype))
        if "peephole" in src.params:
            set_input(model, core, 7, src.params["peephole"].astype(dtype))
        return [RepairAction(label, "copy_parameters", "W, R, B (biases merged)")]
    if form == "keras_loop":
        binding = dst.binding
        dtype = param_dtype(graph, binding["kernel"])
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
            set_input(model, core, slot, value.astype(dtype))
        return [
            RepairAction(label, "copy_parameters", "kernel, recurrent kernel, bias (Keras layout)")
        ]
    return []


#: How a layer's canonical parameters go back into its graph, per layer kind.
_COPIES: dict[str, ParameterCopy] = {
    "conv": _repair_conv,
    "dense": _repair_dense,
    "embedding": _repair_embedding,
}


def repair_parameters(
    model: onnx.ModelProto, graph: LayerGraph, src: Layer, dst: Layer
) -> list[RepairAction]:
    """Write ``src``'s canonical parameters into the target layer ``dst`` of ``model``."""
    assert dst.core is not None
    core = graph.view.nodes[dst.core]
    label = graph.view.label(dst.core)
    copy = _COPIES.get(dst.kind)
    if copy is None and dst.family == "recurrent" and src.family == "recurrent":
        copy = _repair_recurrent
    return [] if copy is None else copy(model, graph, src, dst, core, label)
