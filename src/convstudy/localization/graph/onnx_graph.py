"""A read-only view of one ONNX graph: producers, consumers, constants, types and data flow.

Converters spell the same computation with different plumbing (shape arithmetic, index
clipping, weights behind ``Identity`` nodes), so everything downstream works on *data
tensors*: floating-point tensors computed from the model's inputs. Integer and boolean
tensors (shapes, token-id clipping) and constant subgraphs are plumbing and never form
layers of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from convstudy.localization.graph.folding import FOLDERS, fold

FLOAT_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.BFLOAT16,
    }
)

#: Inputs that pass only their type or shape, never their values.
_TYPE_ONLY_INPUTS = {"CastLike": 1}


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as Python values (bytes decoded, tensors as arrays)."""
    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        out[attr.name] = value
    return out


def subgraph_references(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads from its enclosing scope (outer-scope values)."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(i for i in node.input if i)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used |= subgraph_references(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    used |= subgraph_references(g)
        defined.update(node.output)
    return used - defined


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """Explicit inputs (non-empty) followed by the outer-scope names its subgraphs read."""
    names = [i for i in node.input if i]
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            names.extend(sorted(subgraph_references(g) - set(names)))
    return names


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    attrs = attributes(node)
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    return None


class GraphView:
    """Indexes of one model's main graph, computed once.

    Attributes:
        model: the model (not modified).
        nodes: the main graph's nodes in topological order.
        labels: per node, its ``name``, or ``<op_type>#<index>`` when it has none (or a
            duplicate one), so that every node can be named in a report.
        producer: tensor name -> index of the node that computes it.
        consumers: tensor name -> indices of nodes that read it, subgraph reads included.
        inputs: names of the graph inputs that are not initializers, in order.
        outputs: names of the graph outputs, in order.
        data: names of the data tensors (see the module docstring).
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        graph = model.graph
        self.initializers: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
        self.inputs = [i.name for i in graph.input if i.name not in self.initializers]
        self.outputs = [o.name for o in graph.output]
        self.nodes = _topological(list(graph.node), set(self.inputs) | set(self.initializers))
        self.labels = _labels(self.nodes)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        self.node_inputs: list[list[str]] = []
        for index, node in enumerate(self.nodes):
            names = node_inputs(node)
            self.node_inputs.append(names)
            for name in names:
                self.consumers.setdefault(name, []).append(index)
            for name in node.output:
                if name:
                    self.producer[name] = index
        self.elem_types, self.shapes = _infer_types(model)
        for i in graph.input:
            self.elem_types.setdefault(i.name, i.type.tensor_type.elem_type)
        self._constants: dict[str, np.ndarray | None] = {}
        self.data = self._data_tensors()

    # -- constants ---------------------------------------------------------------------
    def const(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it is a constant (an initializer, a Constant node, or
        a small foldable expression of those), else None."""
        if not name:
            return None
        if name in self._constants:
            return self._constants[name]
        value: np.ndarray | None = None
        if name in self.initializers:
            value = numpy_helper.to_array(self.initializers[name])
        elif name in self.producer:
            node = self.nodes[self.producer[name]]
            if node.op_type == "Constant":
                value = _constant_node_value(node)
            elif node.op_type == "CastLike" and len(node.input) == 2:
                inner = self.const(node.input[0])
                like = self.elem_types.get(node.input[1])
                if inner is not None and like:
                    value = inner.astype(onnx.helper.tensor_dtype_to_np_dtype(like))
            elif node.op_type in FOLDERS and node.domain in ("", "ai.onnx"):
                inputs = [self.const(i) for i in node.input if i]
                if inputs and all(v is not None for v in inputs):
                    try:
                        folded = fold(node.op_type, inputs, attributes(node))  # type: ignore[arg-type]
                    except (ValueError, KeyError, IndexError, TypeError):
                        folded = None
                    if folded is not None and list(node.output).index(name) == 0:
                        value = folded
        self._constants[name] = value
        return value

    def is_const(self, name: str) -> bool:
        """Whether ``name`` is a constant this view can evaluate."""
        return self.const(name) is not None

    # -- types and shapes --------------------------------------------------------------
    def is_float(self, name: str) -> bool | None:
        """Whether the tensor is floating point; None when its type is unknown."""
        elem = self.elem_types.get(name)
        if not elem:
            return None
        return elem in FLOAT_TYPES

    def shape(self, name: str) -> tuple[int | None, ...] | None:
        """Static shape from shape inference (None per unknown dimension), if known."""
        return self.shapes.get(name)

    # -- navigation --------------------------------------------------------------------
    def data_consumers(self, name: str) -> list[int]:
        """Nodes reading the values of ``name`` into data tensors, in graph order, each once.

        A ``Shape`` of a tensor, or a ``CastLike`` to its type, reads no values: such
        readers do not count, so they do not split a layer's chain.
        """
        readers = sorted(set(self.consumers.get(name, [])))
        return [
            i
            for i in readers
            if name in self.value_inputs(i) and any(o in self.data for o in self.nodes[i].output)
        ]

    def data_inputs(self, index: int) -> list[str]:
        """The data tensors a node reads (explicit inputs first)."""
        return [n for n in self.value_inputs(index) if n in self.data]

    def value_inputs(self, index: int) -> list[str]:
        """What a node reads for its values: all inputs but type-only ones (``CastLike``'s
        second input carries no data)."""
        node = self.nodes[index]
        skip = _TYPE_ONLY_INPUTS.get(node.op_type)
        if skip is None or skip >= len(node.input):
            return self.node_inputs[index]
        return [n for n in self.node_inputs[index] if n != node.input[skip]]

    def _data_tensors(self) -> set[str]:
        data = {n for n in self.inputs if self.is_float(n)}
        for index, node in enumerate(self.nodes):
            reads = self.value_inputs(index)
            from_data = any(n in data for n in reads)
            carried = _carrier(node, reads, data, self.elem_types)
            if carried is not None:  # a quantized activation: integers standing for floats
                data.add(carried)
                continue
            embedding = (
                node.op_type == "Gather"
                and len(node.input) >= 2
                and self.const(node.input[0]) is not None
                and self.is_float(node.input[0]) is not False
                and np.issubdtype(self.const(node.input[0]).dtype, np.floating)  # type: ignore[union-attr]
                and self.const(node.input[1]) is None
            )
            if not (from_data or embedding):
                continue
            for out in node.output:
                if out and self.is_float(out) is not False and self.const(out) is None:
                    data.add(out)
        return data

    def label(self, index: int) -> str:
        """Report name of node ``index``."""
        return self.labels[index]

    def index_of(self, label: str) -> int:
        """Node index of a report name."""
        return self.labels.index(label)


#: Ops whose integer output holds the same quantized values as their integer input.
_CARRIERS = frozenset(
    {"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "MaxPool", "Pad"}
)


def _carrier(
    node: onnx.NodeProto, reads: list[str], data: set[str], elem_types: dict[str, int]
) -> str | None:
    """The output that carries a quantized activation, if ``node`` makes one: a quantizer's
    first output, or an integer connector's output fed by a carrier (a dequantizer's float
    output is data by the ordinary rule)."""
    if not reads or reads[0] not in data or not node.output:
        return None
    out = node.output[0]
    if node.op_type in ("QuantizeLinear", "DynamicQuantizeLinear"):
        return out
    integer = elem_types.get(reads[0]) not in FLOAT_TYPES | {0, None}
    if node.op_type in _CARRIERS and integer and elem_types.get(out) == elem_types.get(reads[0]):
        return out
    return None


def _labels(nodes: Iterable[onnx.NodeProto]) -> list[str]:
    labels: list[str] = []
    seen: set[str] = set()
    for index, node in enumerate(nodes):
        label = node.name if node.name and node.name not in seen else f"{node.op_type}#{index}"
        seen.add(label)
        labels.append(label)
    return labels


def _topological(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` in an order where producers precede consumers; graph order when it is one."""
    known = set(available)
    ordered: list[onnx.NodeProto] = []
    pending = list(nodes)
    produced_anywhere = {o for n in nodes for o in n.output if o}
    while pending:
        progressed = False
        rest = []
        for node in pending:
            needs = [n for n in node_inputs(node) if n in produced_anywhere and n not in known]
            if needs:
                rest.append(node)
                continue
            ordered.append(node)
            known.update(o for o in node.output if o)
            progressed = True
        if not progressed:  # a cycle: keep the remaining nodes in file order
            ordered.extend(rest)
            break
        pending = rest
    return ordered


def _infer_types(
    model: onnx.ModelProto,
) -> tuple[dict[str, int], dict[str, tuple[int | None, ...]]]:
    """Element types and static shapes of every tensor shape inference can reach."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - best effort; types also come from the ops
        inferred = model
    elem: dict[str, int] = {}
    shapes: dict[str, tuple[int | None, ...]] = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = info.type.tensor_type
        if not tensor_type.elem_type:
            continue
        elem[info.name] = tensor_type.elem_type
        if tensor_type.HasField("shape"):
            shapes[info.name] = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim
            )
    for init in graph.initializer:
        elem[init.name] = init.data_type
        shapes[init.name] = tuple(init.dims)
    return elem, shapes
