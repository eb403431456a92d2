"""What planting a fault or a control shares: the record of what was planted, and finding
and editing the weighted nodes of a faithful ONNX model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from convstudy.localization.graph.canonical import loop_gru
from convstudy.localization.graph.onnx_graph import GraphView
from convstudy.localization.repair import surgery


class NotApplicable(Exception):
    """The model has no node this fault or control can be planted into."""


@dataclass(frozen=True)
class Planted:
    """A planted fault (or control): what, where, and how."""

    kind: str
    node: str
    description: str


Planter = Callable[[onnx.ModelProto, np.random.Generator], tuple[onnx.ModelProto, Planted]]


def pick(candidates: list[int], rng: np.random.Generator, what: str) -> int:
    """One of ``candidates``, drawn with ``rng``; NotApplicable when there are none."""
    if not candidates:
        raise NotApplicable(f"no {what}")
    return int(candidates[int(rng.integers(len(candidates)))])


def weight_slots(view: GraphView, index: int) -> list[int]:
    """Input slots of node ``index`` holding its main weights."""
    node = view.nodes[index]
    op = node.op_type
    if op == "Conv" and view.is_const(node.input[1]):
        return [1]
    if op == "Gemm" and view.is_const(node.input[1]) and not view.is_const(node.input[0]):
        return [1]
    if op == "MatMul" and view.is_const(node.input[1]) and view.const(node.input[1]).ndim == 2:  # type: ignore[union-attr]
        return [1]
    if op in ("LSTM", "GRU") and view.is_const(node.input[1]) and view.is_const(node.input[2]):
        return [1, 2]
    if op == "Gather" and view.is_const(node.input[0]) and not view.is_const(node.input[1]):
        table = view.const(node.input[0])
        if table is not None and np.issubdtype(table.dtype, np.floating):
            return [0]
    if op == "Loop":
        found = loop_gru(view, index)
        if found is not None:
            binding = found[2]
            names = [binding["kernel"], binding["recurrent_kernel"]]
            return [list(node.input).index(n) for n in names if n in node.input]
    return []


def weighted_nodes(view: GraphView) -> list[int]:
    """Indices of the nodes that hold weights (see :func:`weight_slots`)."""
    return [i for i in range(len(view.nodes)) if weight_slots(view, i)]


def set_input(model: onnx.ModelProto, node: onnx.NodeProto, slot: int, value: np.ndarray) -> None:
    """Feed ``value`` into ``node``'s input ``slot`` as a fresh initializer (shared
    initializers elsewhere stay untouched; a quantized weight stays on its grid:
    :func:`~convstudy.localization.repair.surgery.set_weight`)."""
    surgery.set_weight(model, node, slot, value, f"{node.name or node.op_type}_planted_{slot}")


def copy_with_view(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphView]:
    """A copy of ``model`` to plant into, and a view of the copy (its nodes are the copy's)."""
    out = surgery.copy_model(model)
    return out, GraphView(out)
