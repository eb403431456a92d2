"""Edits of a target model addressed through its layer graph (node indices of its view),
shared by the parameter copy and the graph rewrites."""

from __future__ import annotations

import numpy as np
import onnx

from convstudy.localization.graph.layers import LayerGraph
from convstudy.localization.repair import surgery


def param_dtype(graph: LayerGraph, name: str) -> np.dtype:
    """The dtype of constant ``name`` when it is floating point, else float32."""
    value = graph.view.const(name) if name else None
    if value is not None and np.issubdtype(value.dtype, np.floating):
        return value.dtype
    return np.dtype(np.float32)


def set_input(model: onnx.ModelProto, node: onnx.NodeProto, slot: int, value: np.ndarray) -> str:
    """Feed ``value`` into ``node``'s input ``slot`` (on the weight's storage grid when it
    has one: :func:`~.surgery.set_weight`); the initializer's name."""
    return surgery.set_weight(
        model, node, slot, value, f"{node.name or node.op_type}_repaired_{slot}"
    )


def bypass(graph: LayerGraph, index: int) -> None:
    """Turn node ``index`` into an Identity of its data input."""
    node = graph.view.nodes[index]
    data = graph.view.data_inputs(index)
    surgery.make_identity(node, data[0] if data else node.input[0])
