"""What each node of one graph does to the data: its role, and how it moves axes.

Roles: *connectors* move data without computing (Transpose, Reshape, Flatten, Squeeze,
Identity, Dropout, constant-index Slice or Gather) and belong to no layer; a zero
constant ``Pad`` is a *pad*; an elementwise activation is an *act* and a per-channel
affine map (BatchNorm, a constant Add/Sub/Mul/Div, Neg) an *affine* (post-ops, when they
follow a core); every other node producing data is a *core*. Following connectors back
gives each data tensor's layout (:mod:`~convstudy.localization.graph.layout`) and a
flattened tensor's feature order.
"""

from __future__ import annotations

import numpy as np

from convstudy.localization.graph import post_ops
from convstudy.localization.graph.layout import Perm, compose, identity, native_flat_index
from convstudy.localization.graph.onnx_graph import GraphView, attributes

#: Quantize/dequantize pairs on activations carry a quantization error, not a computation:
#: they connect the float layers they stand for (:mod:`.quantization`).
QUANTIZERS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
CONNECTORS = frozenset(
    {"Identity", "Dropout", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}
    | QUANTIZERS
)
#: Connectors that keep every element in place (allowed inside a layer's trailing chain).
CHAIN_CONNECTORS = frozenset({"Identity", "Dropout", "Transpose", "Cast"} | QUANTIZERS)
#: Elementwise ops of several data inputs (a residual Add, a gate's Mul).
MERGES = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"})


class NodeRoles:
    """The role of each node of one graph and the layout of each data tensor, computed on
    first use.

    Attributes:
        view: the graph view the roles are read from.
    """

    def __init__(self, view: GraphView) -> None:
        self.view = view
        self._perm_cache: dict[str, Perm | None] = {}
        self._roles: dict[int, str] = {}

    def role(self, index: int) -> str:
        """ "connector", "affine", "act", "pad" or "core" for a node producing data."""
        if index not in self._roles:
            self._roles[index] = self._classify(index)
        return self._roles[index]

    def _classify(self, index: int) -> str:
        view = self.view
        node = view.nodes[index]
        op = node.op_type
        data_in = view.data_inputs(index)
        if op in CONNECTORS and node.domain in ("", "ai.onnx"):
            return "connector"
        if op in ("Slice", "Gather") and data_in and data_in[0] == node.input[0]:
            rest = [i for i in node.input[1:] if i]
            if all(view.is_const(i) for i in rest):
                return "connector"
        if op == "Pad" and len(data_in) == 1 and self.pad_amounts(index) is not None:
            return "pad"
        if op in post_ops.ACTIVATIONS and len(data_in) == 1 and data_in[0] == node.input[0]:
            return "act"
        if op == "PRelu" and len(data_in) == 1 and view.is_const(node.input[1]):
            return "act"
        if op in post_ops.AFFINE_OPS and len(data_in) == 1:
            rank = self.rank(data_in[0]) or 4
            if post_ops.affine_of(view, index, data_in[0], None, rank) is not None:
                return "affine"
        return "core"

    def rank(self, name: str) -> int | None:
        """The rank of tensor ``name``, when shape inference knows it."""
        shape = self.view.shape(name)
        return None if shape is None else len(shape)

    def pad_amounts(self, index: int) -> list[int] | None:
        """Pads (begins then ends) of a zero constant-mode Pad node, else None."""
        view = self.view
        node = view.nodes[index]
        attrs = attributes(node)
        if attrs.get("mode", "constant") != "constant":
            return None
        if len(node.input) > 1 and node.input[1]:
            pads = view.const(node.input[1])
        else:
            pads = np.asarray(attrs.get("pads", []), dtype=np.int64)
        value = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if value is None:
            value = np.asarray(attrs.get("value", 0.0))
        if pads is None or (value.size and float(value.reshape(-1)[0]) != 0.0):
            return None
        if len(node.input) > 3 and node.input[3]:
            return None  # explicit axes: rare, left as an ordinary layer
        return [int(p) for p in pads]

    def tensor_perm(self, name: str) -> Perm | None:
        """Layout of a data tensor relative to the native layout of the op that made it."""
        if name in self._perm_cache:
            return self._perm_cache[name]
        self._perm_cache[name] = None  # guards against cycles
        view = self.view
        result: Perm | None = None
        rank = self.rank(name)
        if name in view.producer:
            index = view.producer[name]
            node = view.nodes[index]
            role = self.role(index)
            data_in = view.data_inputs(index)
            if node.op_type == "Transpose" and data_in:
                inner = self.tensor_perm(data_in[0])
                perm = attributes(node).get("perm")
                if inner is not None and perm is not None:
                    result = compose(inner, perm)
            elif node.op_type in CHAIN_CONNECTORS or role in ("act", "affine", "pad"):
                result = self.tensor_perm(data_in[0]) if data_in else None
            elif role == "connector":
                result = identity(rank) if rank is not None and rank <= 2 else None
            elif node.op_type in MERGES or node.op_type == "Concat":
                perms = [self.tensor_perm(i) for i in data_in]
                known = [p for p in perms if p is not None]
                result = known[0] if known else None
            elif rank is not None:
                result = identity(rank)
        self._perm_cache[name] = result
        return result

    def input_order(self, name: str) -> np.ndarray | None:
        """For a flattened tensor, the native flat index of each of its features.

        Follows connectors back to the tensor that was flattened and replays them on an
        index array, so an NHWC flatten (H, W, C order) maps onto NCHW's (C, H, W).
        """
        view = self.view
        chain: list[int] = []
        cur = name
        while cur in view.producer:
            index = view.producer[cur]
            if self.role(index) != "connector" or view.nodes[index].op_type in ("Slice", "Gather"):
                break
            chain.append(index)
            data_in = view.data_inputs(index)
            if not data_in:
                return None
            cur = data_in[0]
        if not chain:
            return None
        shape = view.shape(cur)
        if shape is None or len(shape) < 2 or any(d is None for d in shape[1:]):
            return None
        dims = [1] + [int(d) for d in shape[1:] if d is not None]
        perm = self.tensor_perm(cur) or identity(len(shape))
        idx = np.arange(int(np.prod(dims))).reshape(dims)
        try:
            for index in reversed(chain):
                idx = self._replay(index, idx)
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        order_actual = idx.reshape(-1)
        native = native_flat_index(dims, perm)
        order = native[order_actual]
        if sorted(order.tolist()) != list(range(order.size)):
            return None
        return order

    def _replay(self, index: int, x: np.ndarray) -> np.ndarray:
        node = self.view.nodes[index]
        attrs = attributes(node)
        op = node.op_type
        if op == "Transpose":
            return np.transpose(x, attrs.get("perm"))
        if op == "Flatten":
            axis = attrs.get("axis", 1) % x.ndim
            return x.reshape(int(np.prod(x.shape[:axis])), -1)
        if op == "Reshape":
            target = self.view.const(node.input[1])
            if target is None:
                out_shape = self.view.shape(node.output[0])
                if out_shape is None:
                    raise ValueError("unknown reshape target")
                dims = [1] + [-1 if d is None else int(d) for d in out_shape[1:]]
            else:
                dims = [int(d) for d in target]
                if not attrs.get("allowzero", 0):
                    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
                dims[0] = 1 if dims[0] != -1 else -1
                if dims[0] == -1 and -1 in dims[1:]:
                    raise ValueError("two unknown dimensions")
            return x.reshape(dims)
        if op == "Squeeze":
            axes = self.view.const(node.input[1]) if len(node.input) > 1 else attrs.get("axes")
            return np.squeeze(x, axis=tuple(int(a) for a in axes) if axes is not None else None)
        if op == "Unsqueeze":
            axes = self.view.const(node.input[1]) if len(node.input) > 1 else attrs.get("axes")
            assert axes is not None
            rank = x.ndim + len(axes)
            for a in sorted(int(a) % rank for a in axes):
                x = np.expand_dims(x, a)
            return x
        return x  # Identity, Dropout, Cast
