"""Equivalent rewrites of a faithful ONNX model (controls): a localization must find nothing.

An inserted Identity or Transpose pair, renamed nodes, BatchNorm or a scale folded into
the convolution by hand, Gemm written as MatMul + Add or the reverse, a convolution's
padding moved into a Pad node, another opset.
"""

from __future__ import annotations

import numpy as np
import onnx

from convstudy.localization.comparison.runner import session
from convstudy.localization.evaluation.planting import (
    NotApplicable,
    Planted,
    Planter,
    copy_with_view,
    pick,
    set_input,
    weight_slots,
)
from convstudy.localization.graph.onnx_graph import GraphView, attributes
from convstudy.localization.repair import surgery


def _middle_data_tensor(view: GraphView, rng: np.random.Generator, rank: int | None = None) -> str:
    names = [
        o
        for n in view.nodes
        for o in n.output
        if o in view.data
        and o not in view.outputs
        and (rank is None or (view.shape(o) is not None and len(view.shape(o)) >= rank))  # type: ignore[arg-type]
    ]
    if not names:
        raise NotApplicable("no intermediate data tensor")
    return names[int(rng.integers(len(names)))]


def identity_inserted(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """An Identity node inserted after an intermediate tensor."""
    out, view = copy_with_view(model)
    tensor = _middle_data_tensor(view, rng)
    new = surgery.insert_after(out, tensor, "Identity", [])
    return surgery.check(out), Planted("identity_inserted", new.name, f"Identity after {tensor}")


def transpose_pair(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A Transpose and its inverse inserted after a rank >= 3 tensor."""
    out, view = copy_with_view(model)
    tensor = _middle_data_tensor(view, rng, rank=3)
    shape = view.shape(tensor)
    assert shape is not None
    perm = [0, *range(2, len(shape)), 1]
    inverse = [int(i) for i in np.argsort(perm)]
    first = surgery.insert_after(out, tensor, "Transpose", [], perm=perm)
    surgery.insert_after(out, tensor, "Transpose", [], perm=inverse)
    return surgery.check(out), Planted(
        "transpose_pair", first.name, f"Transpose pair after {tensor}"
    )


def renamed(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """Every node and intermediate tensor renamed."""
    out = surgery.copy_model(model)
    graph = out.graph
    keep = {i.name for i in graph.input} | {o.name for o in graph.output}
    keep |= {t.name for t in graph.initializer}
    mapping: dict[str, str] = {}
    for k, node in enumerate(graph.node):
        node.name = f"n{k}_{rng.integers(1 << 20)}"
        for j, name in enumerate(node.output):
            if name and name not in keep:
                mapping[name] = f"t{k}_{j}"
                node.output[j] = mapping[name]
    _rename_reads(graph, mapping)
    del graph.value_info[:]
    return surgery.check(out), Planted("renamed", "", "all nodes and tensors renamed")


def _rename_reads(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Apply ``mapping`` to every read in ``graph``, outer-scope reads of subgraphs too."""
    local = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    for node in graph.node:
        for j, name in enumerate(node.input):
            node.input[j] = mapping.get(name, name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                inner = {k: v for k, v in mapping.items() if k not in _defined(attr.g)}
                _rename_reads(attr.g, inner)
    del local


def _defined(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    return names | {o for n in graph.node for o in n.output}


def folded_affine(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Every BatchNormalization (or per-channel Mul) right after a Conv folded into the
    Conv's weights and bias by hand, and removed."""
    out, view = copy_with_view(model)
    folded = 0
    for index, node in enumerate(view.nodes):
        if node.op_type != "Conv" or not view.is_const(node.input[1]):
            continue
        readers = view.data_consumers(node.output[0])
        if len(readers) != 1:
            continue
        nxt = view.nodes[readers[0]]
        weight = view.const(node.input[1]).astype(np.float64)  # type: ignore[union-attr]
        out_ch = weight.shape[0]
        bias_value = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        bias = np.zeros(out_ch) if bias_value is None else bias_value.astype(np.float64)
        if nxt.op_type == "BatchNormalization" and not attributes(nxt).get("training_mode", 0):
            gamma, beta, mean, var = (view.const(i) for i in nxt.input[1:5])
            if any(v is None for v in (gamma, beta, mean, var)):
                continue
            eps = float(attributes(nxt).get("epsilon", 1e-5))
            scale = gamma / np.sqrt(var.astype(np.float64) + eps)  # type: ignore[union-attr, operator]
            shift = beta - mean * scale  # type: ignore[operator]
        elif nxt.op_type == "Mul":
            other = nxt.input[1] if nxt.input[0] == node.output[0] else nxt.input[0]
            value = view.const(other)
            if value is None or value.size not in (1, out_ch):
                continue
            if value.size == out_ch and value.ndim >= 3 and value.shape[-3] != out_ch:
                continue
            scale = np.broadcast_to(value.reshape(-1).astype(np.float64), (out_ch,))
            shift = np.zeros(out_ch)
        else:
            continue
        dtype = view.const(node.input[1]).dtype  # type: ignore[union-attr]
        set_input(out, node, 1, (weight * scale.reshape(-1, 1, 1, 1)).astype(dtype))
        set_input(out, node, 2, (bias * scale + shift).astype(dtype))
        surgery.make_identity(nxt, node.output[0])
        folded += 1
    if not folded:
        raise NotApplicable("no BatchNormalization or Mul after a Conv")
    surgery.remove_unused_initializers(out)
    return surgery.check(out), Planted("folded_affine", "", f"{folded} affine nodes folded")


def gemm_rewrite(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Gemm written as MatMul + Add, or MatMul + Add as Gemm."""
    out, view = copy_with_view(model)
    for index, node in enumerate(view.nodes):
        attrs = attributes(node)
        if node.op_type == "Gemm" and not attrs.get("transA", 0) and view.is_const(node.input[1]):
            b = view.const(node.input[1])
            assert b is not None
            data, w_name, result = node.input[0], node.input[1], node.output[0]
            c_name = node.input[2] if len(node.input) > 2 else ""
            alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
            # the stored tensors are read as they are (a quantized weight stays on its grid)
            if alpha != 1.0:
                weight = b.T if attrs.get("transB", 0) else b
                weight = weight * np.asarray(alpha, dtype=b.dtype)
                w_name = surgery.add_initializer(
                    out, "rewritten_weight", np.ascontiguousarray(weight)
                )
            elif attrs.get("transB", 0):
                w_name = surgery.add_node(out, node, "Transpose", [w_name], perm=[1, 0])
            node.op_type = "MatMul"
            del node.attribute[:]
            del node.input[:]
            node.input.extend([data, w_name])
            if c_name:
                if beta != 1.0:
                    bias = view.const(c_name)
                    assert bias is not None
                    scaled = bias * np.asarray(beta, dtype=bias.dtype)
                    c_name = surgery.add_initializer(out, "rewritten_bias", scaled)
                surgery.insert_after(out, result, "Add", [c_name])
            surgery.remove_unused_initializers(out)
            return surgery.check(out), Planted("gemm_rewrite", "", "Gemm -> MatMul + Add")
        if node.op_type == "MatMul" and weight_slots(view, index) == [1]:
            readers = view.data_consumers(node.output[0])
            if len(readers) != 1 or view.nodes[readers[0]].op_type != "Add":
                continue
            add = view.nodes[readers[0]]
            other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
            bias = view.const(other)
            shape = view.shape(node.input[0])
            if bias is None or shape is None or len(shape) != 2:
                continue
            node.op_type = "Gemm"
            kept = other if bias.ndim <= 2 else ""  # the stored bias, read as it is
            node.input.append(
                kept or surgery.add_initializer(out, "rewritten_bias", bias.reshape(-1))
            )
            surgery.make_identity(add, node.output[0])
            surgery.remove_unused_initializers(out)
            return surgery.check(out), Planted("gemm_rewrite", "", "MatMul + Add -> Gemm")
    raise NotApplicable("no Gemm or MatMul + Add")


def pad_split(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A convolution's padding moved into a separate zero ``Pad`` node."""
    out, view = copy_with_view(model)
    candidates = [
        i
        for i, n in enumerate(view.nodes)
        if n.op_type == "Conv" and any(attributes(n).get("pads", [0]))
    ]
    index = pick(candidates, rng, "padded convolution")
    node = view.nodes[index]
    pads = list(attributes(node)["pads"])
    n = len(pads) // 2
    full = [0, 0, *pads[:n], 0, 0, *pads[n:]]
    pads_name = surgery.add_initializer(out, "split_pads", np.asarray(full, dtype=np.int64))
    surgery.set_attribute(node, "pads", [0] * len(pads))
    data = node.input[0]
    padded = surgery.unique_name(out, f"{data}__padded")
    pad = onnx.helper.make_node(
        "Pad", [data, pads_name], [padded], name=surgery.unique_name(out, "Pad")
    )
    node.input[0] = padded
    position = list(out.graph.node).index(node)
    out.graph.node.insert(position, pad)
    return surgery.check(out), Planted("pad_split", pad.name, "conv pads -> Pad node")


#: The opset :func:`opset_change` converts to (onnxruntime 1.31 runs it).
NEW_OPSET = 21


def opset_change(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """The model converted to another opset by onnx's version converter."""
    from onnx import version_converter

    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) == NEW_OPSET:
        raise NotApplicable(f"already opset {NEW_OPSET}")
    out = version_converter.convert_version(model, NEW_OPSET)
    try:  # the converter's QuantizeLinear may declare an output type its zero point lacks
        session(out)
    except Exception as exc:
        raise NotApplicable(f"the version converter's graph does not load ({exc})") from exc
    return surgery.check(out), Planted("opset_change", "-", f"opset -> {NEW_OPSET}")


CONTROLS: dict[str, Planter] = {
    "identity_inserted": identity_inserted,
    "transpose_pair": transpose_pair,
    "renamed": renamed,
    "folded_affine": folded_affine,
    "gemm_rewrite": gemm_rewrite,
    "pad_split": pad_split,
    "opset_change": opset_change,
}
