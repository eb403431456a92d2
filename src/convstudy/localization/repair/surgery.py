"""Small, checked edits of ONNX graphs shared by fault planting and repair."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def unique_name(model: onnx.ModelProto, base: str) -> str:
    """A tensor/initializer/node name not used in ``model``'s main graph."""
    graph = model.graph
    used = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    used |= {o for n in graph.node for o in n.output} | {n.name for n in graph.node}
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}_{k}"
    return name


def add_initializer(model: onnx.ModelProto, base: str, value: np.ndarray) -> str:
    """Add ``value`` as a new initializer; return its name."""
    name = unique_name(model, base)
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def set_weight(
    model: onnx.ModelProto, node: onnx.NodeProto, slot: int, value: np.ndarray, base: str
) -> str:
    """Feed ``value`` into ``node``'s input ``slot``; return the initializer's name.

    A weight the model stores on a grid stays on it: when the slot reads a
    ``DequantizeLinear`` (int8) or a ``Cast`` of a float16 constant that only this node
    reads, ``value`` is written there, quantized with the same scale and zero point (or
    rounded to float16); otherwise it is a fresh float initializer.
    """
    name = node.input[slot] if slot < len(node.input) else ""
    stored = node_by_output(model, name) if name else None
    readers = [n for n in model.graph.node if name in n.input] if stored is not None else []
    if stored is not None and len(readers) == 1:
        grid = _grid_value(model, stored, value)
        if grid is not None:
            stored.input[0] = add_initializer(model, f"{base}_stored", grid)
            return str(stored.input[0])
    fresh = add_initializer(model, base, np.ascontiguousarray(value))
    while len(node.input) <= slot:
        node.input.append("")
    node.input[slot] = fresh
    return fresh


def _grid_value(
    model: onnx.ModelProto, stored: onnx.NodeProto, value: np.ndarray
) -> np.ndarray | None:
    """``value`` on the grid of the node ``stored`` that dequantizes a constant, or None."""
    consts = {t.name: t for t in model.graph.initializer}
    if stored.op_type == "Cast" and stored.input[0] in consts:
        if numpy_helper.to_array(consts[stored.input[0]]).dtype == np.float16:
            return np.asarray(value).astype(np.float16)
        return None
    if stored.op_type != "DequantizeLinear" or any(i not in consts for i in stored.input[:3] if i):
        return None
    old = numpy_helper.to_array(consts[stored.input[0]])
    scale = numpy_helper.to_array(consts[stored.input[1]]).astype(np.float64)
    zero = (
        numpy_helper.to_array(consts[stored.input[2]]).astype(np.float64)
        if len(stored.input) > 2 and stored.input[2]
        else np.zeros(())
    )
    if old.shape != np.shape(value) or not np.issubdtype(old.dtype, np.integer):
        return None
    if scale.size > 1:
        axis = 1
        for attr in stored.attribute:
            if attr.name == "axis":
                axis = attr.i
        shape = [1] * old.ndim
        shape[axis % old.ndim] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    info = np.iinfo(old.dtype)
    q = np.rint(np.asarray(value, dtype=np.float64) / scale) + zero
    return np.clip(q, info.min, info.max).astype(old.dtype)


def node_by_output(model: onnx.ModelProto, tensor: str) -> onnx.NodeProto | None:
    """The main-graph node producing ``tensor``."""
    for node in model.graph.node:
        if tensor in node.output:
            return node
    return None


def set_attribute(node: onnx.NodeProto, name: str, value: Any) -> None:
    """Set (or replace) one attribute; ``None`` removes it."""
    for k, attr in enumerate(node.attribute):
        if attr.name == name:
            del node.attribute[k]
            break
    if value is not None:
        node.attribute.append(onnx.helper.make_attribute(name, value))


def make_identity(node: onnx.NodeProto, data_input: str) -> None:
    """Turn ``node`` into ``Identity(data_input)`` with its first output (a bypass)."""
    output = node.output[0]
    node.op_type = "Identity"
    node.domain = ""
    del node.input[:]
    node.input.append(data_input)
    del node.output[:]
    node.output.append(output)
    del node.attribute[:]


def add_node(
    model: onnx.ModelProto, before: onnx.NodeProto, op_type: str, inputs: list[str], **attrs: Any
) -> str:
    """Insert ``op_type(*inputs)`` just before node ``before``; return its output."""
    out = unique_name(model, f"{inputs[0]}__{op_type.lower()}")
    new = onnx.helper.make_node(op_type, inputs, [out], name=unique_name(model, op_type), **attrs)
    nodes = list(model.graph.node)
    model.graph.node.insert(nodes.index(before), new)
    return out


def insert_after(
    model: onnx.ModelProto, tensor: str, op_type: str, extra_inputs: list[str], **attrs: Any
) -> onnx.NodeProto:
    """Insert ``op_type(tensor, *extra_inputs)`` so that every reader of ``tensor`` (and the
    graph output of that name) reads the new node's result instead. Returns the new node."""
    graph = model.graph
    nodes = list(graph.node)
    producer = node_by_output(model, tensor)
    name = unique_name(model, op_type)
    if producer is not None:
        # The producer's result gets a new name; the new node takes over the old one, so
        # readers and graph outputs need no change.
        renamed = unique_name(model, f"{tensor}__before_{op_type.lower()}")
        producer.output[list(producer.output).index(tensor)] = renamed
        new = onnx.helper.make_node(op_type, [renamed, *extra_inputs], [tensor], name=name, **attrs)
        position = nodes.index(producer) + 1
    else:  # a graph input keeps its name: its readers switch to the new tensor
        out = unique_name(model, f"{tensor}__{op_type.lower()}")
        for node in nodes:
            for k, read in enumerate(node.input):
                if read == tensor:
                    node.input[k] = out
        new = onnx.helper.make_node(op_type, [tensor, *extra_inputs], [out], name=name, **attrs)
        position = 0
    graph.node.insert(position, new)
    return graph.node[position]


def remove_unused_initializers(model: onnx.ModelProto) -> None:
    """Drop initializers no node (or subgraph) reads and no graph output names."""
    from convstudy.localization.graph.onnx_graph import node_inputs

    used = {o.name for o in model.graph.output}
    for node in model.graph.node:
        used.update(node_inputs(node))
    keep = [t for t in model.graph.initializer if t.name in used]
    if len(keep) != len(model.graph.initializer):
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
        inputs = [
            i for i in model.graph.input if i.name in used or i.name not in _init_names(model)
        ]
        del model.graph.input[:]
        model.graph.input.extend(inputs)


def _init_names(model: onnx.ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer}


def check(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` after ``onnx.checker`` accepted it."""
    onnx.checker.check_model(model)
    return model
