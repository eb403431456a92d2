"""Graph repair: hyperparameters set to the source's (strides, dilations, group, padding,
with a target's ``Pad`` node bypassed and its padding moved into the convolution;
BatchNorm epsilon; recurrent activations; a pool's type) and the trailing
post-ops (activations and scalings) rewritten to the source's (an inserted node bypassed, a dropped
activation put back, a swapped one replaced)."""

from __future__ import annotations

import numpy as np
import onnx

from convstudy.localization.graph.layers import Layer, LayerGraph
from convstudy.localization.graph.layout import inverse
from convstudy.localization.repair import surgery
from convstudy.localization.repair.edits import bypass, param_dtype
from convstudy.localization.repair.result import RepairAction


def repair_hyperparameters(
    model: onnx.ModelProto,
    graph: LayerGraph,
    src_graph: LayerGraph,
    src: Layer,
    dst: Layer,
    names: list[str],
) -> list[RepairAction]:
    """Set the hyperparameters ``names`` of target layer ``dst`` to the source's."""
    actions: list[RepairAction] = []
    if dst.core is None:
        if "post_ops" in names:
            actions += _rewrite_post_ops(model, graph, src_graph, src, dst)
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
            bypass(graph, index)
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
        actions += _rewrite_post_ops(model, graph, src_graph, src, dst)
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


def _rewrite_post_ops(
    model: onnx.ModelProto, graph: LayerGraph, src_graph: LayerGraph, src: Layer, dst: Layer
) -> list[RepairAction]:
    """Replace the target layer's post-ops by the source layer's."""
    actions = []
    end = dst.output
    for op in dst.post_ops:
        for index in op.nodes:
            if index == dst.core:
                continue
            actions.append(RepairAction(graph.view.label(index), "bypass_node", f"step {op.name}"))
            bypass(graph, index)
    for op in src.post_ops:
        if op.kind == "act":
            node = src_graph.view.nodes[op.nodes[-1]]
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
            assert op.scale is not None and op.shift is not None
            dtype = param_dtype(graph, "")
            scale, shift = op.scale, op.shift
            if dst.perm is not None and len(dst.perm) == scale.ndim:
                scale, shift = np.transpose(scale, dst.perm), np.transpose(shift, dst.perm)
            mul = surgery.add_initializer(model, "repaired_scale", scale.astype(dtype))
            add = surgery.add_initializer(model, "repaired_shift", shift.astype(dtype))
            surgery.insert_after(model, end, "Mul", [mul])
            new = surgery.insert_after(model, end, "Add", [add])
            actions.append(RepairAction(new.name, "insert_node", "affine step as in the source"))
    return actions


def bypassable(graph: LayerGraph, layer: Layer) -> bool:
    """Whether ``layer`` can be replaced by its input (one data input of its output's shape)."""
    if layer.core is None:
        return False
    data = graph.view.data_inputs(layer.core)
    if len(data) != 1:
        return False
    before, after = graph.view.shape(data[0]), graph.view.shape(layer.output)
    return before is not None and before == after
