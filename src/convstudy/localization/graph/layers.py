"""A model as a graph of *layers*: what survives every converter's rewrites.

A layer is one core operator (Conv, Gemm/MatMul, Gather on a table, LSTM/GRU, a Keras
GRU ``Loop``, a pool, a residual Add, ...) plus what converters move around it: the
zero ``Pad`` before a convolution, and the per-channel affine maps (BatchNorm, a folded
BatchNorm's ``Mul``/``Add``, a bias ``Add``) and activations after it. Pure data-movement
nodes (Transpose, Reshape, Flatten, Squeeze, Identity, Dropout, constant-index Slice or
Gather) are *connectors*: they belong to no layer and only decide which layer feeds which.
Graph inputs are layers of kind "input".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from convstudy.localization.graph import canonical, steps
from convstudy.localization.graph.layout import Perm, compose, identity, native_flat_index
from convstudy.localization.graph.onnx_graph import GraphView, attributes
from convstudy.localization.graph.steps import Step

CONNECTORS = frozenset(
    {"Identity", "Dropout", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}
)
#: Connectors that keep every element in place (allowed inside a layer's trailing chain).
_CHAIN_CONNECTORS = frozenset({"Identity", "Dropout", "Transpose", "Cast"})
_POOLS = {"MaxPool": "maxpool", "AveragePool": "avgpool", "LpPool": "lppool"}
_GLOBAL_POOLS = {
    "GlobalAveragePool": "global_avgpool",
    "GlobalMaxPool": "global_maxpool",
    "ReduceMean": "global_avgpool",
    "ReduceMax": "global_maxpool",
}
_MERGES = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"})
#: Matching order of families at equal depth (any fixed order works; it must be shared).
FAMILY_RANK = {
    "input": 0,
    "embedding": 1,
    "conv": 2,
    "dense": 3,
    "recurrent": 4,
    "pool": 5,
    "global_pool": 6,
    "merge": 7,
    "concat": 8,
    "activation": 9,
    "affine": 10,
}


@dataclass
class Layer:
    """One layer of one graph.

    Attributes:
        kind: "conv", "dense", "embedding", "lstm", "gru", "rnn", "maxpool", "avgpool",
            "global_avgpool", "add", "concat", "activation", "affine", "input", or the
            lower-cased op type of anything else.
        family: kinds that may match each other (a pool may match another pool).
        core: node index of the core operator; None for an input layer.
        name: the core node's report name (the input's name for an input layer).
        op_type: the core's op type ("Input" for an input layer).
        nodes: node indices of every node in the layer.
        inputs: data tensors the layer reads from outside itself.
        output: the tensor compared in the activation stage (after the trailing chain).
        perm: layout of ``output`` relative to the core's native layout, when known.
        params: canonical parameters (see :mod:`convstudy.localization.graph.canonical`).
        hyper: canonical hyperparameters (JSON values).
        binding: where canonical parameters live in the graph (used by the repair).
        steps: the trailing steps not folded into ``params``.
        folded: the affine step folded into ``params`` (None if there is none).
        pads: indices of zero ``Pad`` nodes folded into the convolution's padding.
        preds: indices (in :attr:`LayerGraph.layers`) of the layers feeding this one.
        depth: longest chain of layers from a graph input.
    """

    kind: str
    family: str
    core: int | None
    name: str
    op_type: str
    nodes: list[int]
    inputs: list[str]
    output: str
    perm: Perm | None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    hyper: dict[str, Any] = field(default_factory=dict)
    binding: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    folded: Step | None = None
    pads: list[int] = field(default_factory=list)
    preds: list[int] = field(default_factory=list)
    depth: int = 0

    @property
    def n_params(self) -> int:
        """Number of canonical parameter values."""
        return int(sum(p.size for p in self.params.values()))


class LayerGraph:
    """The layers of one model, each node owned by at most one layer.

    Attributes:
        view: the graph view the layers were read from.
        layers: in canonical order: by depth, then family, then size, then graph order.
        owner: node index -> index of the layer that owns it.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.view = GraphView(model)
        self.owner: dict[int, int] = {}
        self._perm_cache: dict[str, Perm | None] = {}
        self._roles: dict[int, str] = {}
        self.layers: list[Layer] = []
        self._build()

    # -- classification ----------------------------------------------------------------
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
        if op == "Pad" and len(data_in) == 1 and self._pad_amounts(index) is not None:
            return "pad"
        if op in steps.ACTIVATIONS and len(data_in) == 1 and data_in[0] == node.input[0]:
            return "act"
        if op == "PRelu" and len(data_in) == 1 and view.is_const(node.input[1]):
            return "act"
        if op in steps.AFFINE_OPS and len(data_in) == 1:
            rank = self._rank(data_in[0]) or 4
            if steps.affine_of(view, index, data_in[0], None, rank) is not None:
                return "affine"
        return "core"

    def _rank(self, name: str) -> int | None:
        shape = self.view.shape(name)
        return None if shape is None else len(shape)

    def _pad_amounts(self, index: int) -> list[int] | None:
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

    # -- layouts -----------------------------------------------------------------------
    def tensor_perm(self, name: str) -> Perm | None:
        """Layout of a data tensor relative to the native layout of the op that made it."""
        if name in self._perm_cache:
            return self._perm_cache[name]
        self._perm_cache[name] = None  # guards against cycles
        view = self.view
        result: Perm | None = None
        rank = self._rank(name)
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
            elif node.op_type in _CHAIN_CONNECTORS or role in ("act", "affine", "pad"):
                result = self.tensor_perm(data_in[0]) if data_in else None
            elif role == "connector":
                result = identity(rank) if rank is not None and rank <= 2 else None
            elif node.op_type in _MERGES or node.op_type == "Concat":
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

    # -- building ----------------------------------------------------------------------
    def _build(self) -> None:
        view = self.view
        pre_pads = self._conv_pads()
        absorbed: set[int] = {p for pads, _ in pre_pads.values() for p in pads}
        for name in view.inputs:
            if name in view.data:
                self._add_input_layer(name, absorbed)
        for index in range(len(view.nodes)):
            if index in absorbed or not any(o in view.data for o in view.nodes[index].output):
                continue
            role = self.role(index)
            if role == "connector":
                continue
            self._add_core_layer(index, role, pre_pads.get(index), absorbed)
        self._link_and_order()

    def _conv_pads(self) -> dict[int, tuple[list[int], list[int]]]:
        """Conv node -> (its zero Pad nodes, their padding in the conv's spatial axes)."""
        view = self.view
        found: dict[int, tuple[list[int], list[int]]] = {}
        for index, node in enumerate(view.nodes):
            if node.op_type not in ("Conv", "FusedConv") or not node.input:
                continue
            spatial = len(attributes(node).get("kernel_shape", [])) or None
            weight = view.const(node.input[1]) if len(node.input) > 1 else None
            if spatial is None and weight is not None:
                spatial = weight.ndim - 2
            if spatial is None:
                continue
            rank = spatial + 2
            axis_map = list(range(rank))  # conv input axis -> axis of the current tensor
            cur = node.input[0]
            pads_nodes: list[int] = []
            total = [0] * (2 * spatial)
            while cur in view.producer and len(view.data_consumers(cur)) == 1:
                producer = view.producer[cur]
                pnode = view.nodes[producer]
                role = self.role(producer)
                if pnode.op_type == "Transpose":
                    perm = attributes(pnode).get("perm")
                    if perm is None:
                        break
                    axis_map = [int(perm[a]) for a in axis_map]
                elif role == "pad":
                    amounts = self._pad_amounts(producer)
                    assert amounts is not None
                    if len(amounts) != 2 * rank:
                        break
                    if any(amounts[axis_map[a]] or amounts[rank + axis_map[a]] for a in (0, 1)):
                        break
                    for s in range(spatial):
                        total[s] += amounts[axis_map[2 + s]]
                        total[spatial + s] += amounts[rank + axis_map[2 + s]]
                    pads_nodes.append(producer)
                elif pnode.op_type not in ("Identity", "Dropout"):
                    break
                data_in = view.data_inputs(producer)
                if not data_in:
                    break
                cur = data_in[0]
            if pads_nodes:
                found[index] = (pads_nodes, total)
        return found

    def _trailing(
        self, start: str, perm: Perm | None, absorbed: set[int]
    ) -> tuple[list[int], str, Perm | None, list[Step]]:
        """The chain of affine/activation nodes after ``start``: (nodes, end tensor,
        its layout, raw steps)."""
        view = self.view
        nodes: list[int] = []
        raw: list[Step] = []
        cur, cur_perm = start, perm
        end, end_perm, kept = start, perm, 0
        rank = self._rank(start) or (len(perm) if perm is not None else 4)
        while cur not in view.outputs:
            consumers = view.data_consumers(cur)
            if len(consumers) != 1 or consumers[0] in absorbed:
                break
            index = consumers[0]
            node = view.nodes[index]
            role = self.role(index)
            if node.op_type in _CHAIN_CONNECTORS and role == "connector":
                if node.op_type == "Transpose":
                    tperm = attributes(node).get("perm")
                    cur_perm = (
                        compose(cur_perm, tperm)
                        if cur_perm is not None and tperm is not None
                        else None
                    )
                nodes.append(index)
                cur = node.output[0]
                continue
            if role == "act" and node.input[0] == cur:
                raw.append(
                    Step("act", steps.activation_name(view, index, cur_perm, rank), nodes=[index])
                )
            elif role == "affine":
                affine = steps.affine_of(view, index, cur, cur_perm, rank)
                if affine is None:
                    break
                scale, shift, eps = affine
                raw.append(
                    Step(
                        "affine",
                        "affine",
                        scale=scale,
                        shift=shift,
                        nodes=[index],
                        epsilons=[] if eps is None else [eps],
                    )
                )
            else:
                break
            nodes.append(index)
            cur = node.output[0]
            end, end_perm, kept = cur, cur_perm, len(nodes)
        return nodes[:kept], end, end_perm, raw

    def _add_input_layer(self, name: str, absorbed: set[int]) -> None:
        nodes, end, perm, raw = self._trailing(name, None, absorbed)
        layer = Layer(
            kind="input",
            family="input",
            core=None,
            name=name,
            op_type="Input",
            nodes=nodes,
            inputs=[],
            output=end,
            perm=perm,
        )
        layer.hyper["position"] = self.view.inputs.index(name)
        self._finish(layer, raw, channel_axis=None, absorbed=absorbed)

    def _add_core_layer(
        self,
        index: int,
        role: str,
        pads: tuple[list[int], list[int]] | None,
        absorbed: set[int],
    ) -> None:
        view = self.view
        node = view.nodes[index]
        op = node.op_type
        data_in = view.data_inputs(index)
        out = node.output[0]
        rank = self._rank(out)
        kind, family, channel_axis = op.lower(), op, None
        params: dict[str, np.ndarray] = {}
        hyper: dict[str, Any] = {}
        binding: dict[str, Any] = {}
        perm: Perm | None = identity(rank) if rank is not None else None
        extra_nodes: list[int] = []
        inputs = list(data_in)
        if op in ("Conv", "FusedConv", "ConvTranspose"):
            kind = family = "conv" if op != "ConvTranspose" else "conv_transpose"
            if op == "ConvTranspose":
                family = "conv"
            params, hyper, binding = canonical.conv(view, index, pads[1] if pads else None)
            channel_axis = 1 if op != "ConvTranspose" else None
            if pads:
                inputs = self._pad_inputs(pads[0]) + [i for i in data_in if i != node.input[0]]
            if perm is None and "weight" in params:
                perm = identity(params["weight"].ndim)
        elif op in ("Gemm", "MatMul") and (
            dense := canonical.dense(view, index, self.input_order(node.input[0]))
        ):
            kind = family = "dense"
            params, hyper, binding = dense
            channel_axis = -1
        elif op == "Gather" and view.is_const(node.input[0]) and not data_in:
            kind = family = "embedding"
            params, hyper, binding = canonical.embedding(view, index)
            channel_axis = -1
        elif op in ("LSTM", "GRU", "RNN") and (rec := canonical.recurrent(view, index)):
            kind, family = op.lower(), "recurrent"
            params, hyper, binding = rec
            out, extra_nodes = self._recurrent_output(index, absorbed)
            rank = self._rank(out)
            perm = identity(rank) if rank is not None and rank <= 2 else None
            channel_axis = -1
        elif op == "Loop" and (rec := canonical.loop_gru(view, index)):
            kind, family = "gru", "recurrent"
            params, hyper, binding = rec
            out, extra_nodes = self._recurrent_output(index, absorbed)
            rank = self._rank(out)
            perm = identity(rank) if rank is not None and rank <= 2 else None
            channel_axis = -1
        elif op in _POOLS:
            kind, family = _POOLS[op], "pool"
            hyper = canonical.pool(view, index)
        elif op in _GLOBAL_POOLS and self._is_global(index):
            kind, family = _GLOBAL_POOLS[op], "global_pool"
            perm = None
        elif op in _MERGES and len(data_in) >= 2:
            kind, family = op.lower(), "merge"
            perm = self.tensor_perm(data_in[0])
        elif op == "Concat":
            kind = family = "concat"
            in_perm = self.tensor_perm(data_in[0]) if data_in else None
            axis = int(attributes(node).get("axis", 0))
            if rank:
                axis %= rank
            hyper["axis"] = in_perm[axis] if in_perm is not None else axis
            perm = in_perm
        elif role == "act":
            kind = family = "activation"
            perm = self.tensor_perm(data_in[0]) if data_in else None
        elif role in ("affine", "pad"):
            kind = family = role
            perm = self.tensor_perm(data_in[0]) if data_in else None
        else:
            params, hyper, binding = canonical.generic(view, index)
        layer = Layer(
            kind=kind,
            family=family,
            core=index,
            name=view.label(index),
            op_type=op,
            nodes=[*(pads[0] if pads else []), index, *extra_nodes],
            inputs=inputs,
            output=out,
            perm=perm,
            params=params,
            hyper=hyper,
            binding=binding,
            pads=list(pads[0]) if pads else [],
        )
        absorbed.update(layer.nodes)
        raw: list[Step] = []
        if role in ("act", "affine") and kind in ("activation", "affine"):
            rank_in = self._rank(data_in[0]) if data_in else None
            if role == "act":
                raw.append(
                    Step("act", steps.activation_name(view, index, perm, rank_in), nodes=[index])
                )
            else:
                affine = steps.affine_of(view, index, data_in[0], perm, rank_in or 4)
                if affine is not None:
                    raw.append(
                        Step(
                            "affine",
                            "affine",
                            scale=affine[0],
                            shift=affine[1],
                            nodes=[index],
                            epsilons=[] if affine[2] is None else [affine[2]],
                        )
                    )
        if role == "pad":
            hyper["pads"] = self._pad_amounts(index)
        if op == "FusedConv":
            act = attributes(node).get("activation")
            if act:
                raw.append(Step("act", str(act), nodes=[index]))
        nodes, end, end_perm, chain = self._trailing(layer.output, layer.perm, absorbed)
        layer.nodes.extend(nodes)
        layer.output, layer.perm = end, end_perm
        self._finish(layer, raw + chain, channel_axis, absorbed)

    def _pad_inputs(self, pads_nodes: list[int]) -> list[str]:
        first = min(pads_nodes)
        data_in = self.view.data_inputs(first)
        return data_in[:1]

    def _is_global(self, index: int) -> bool:
        view = self.view
        node = view.nodes[index]
        if node.op_type.startswith("Global"):
            return True
        data_in = view.data_inputs(index)
        rank = self._rank(data_in[0]) if data_in else None
        if rank is None or rank < 3:
            return False
        axes = attributes(node).get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            value = view.const(node.input[1])
            axes = None if value is None else value.tolist()
        if axes is None:
            return False
        perm = self.tensor_perm(data_in[0]) or identity(rank)
        native_axes = {perm[int(a) % rank] for a in axes}
        return native_axes == set(range(2, rank))

    def _recurrent_output(self, index: int, absorbed: set[int]) -> tuple[str, list[int]]:
        """The tensor after the connectors that pick a recurrent layer's result (the last
        step's hidden state, usually), and those connector nodes."""
        view = self.view
        node = view.nodes[index]
        passed = _loop_pass_through(node)
        used = [
            o
            for k, o in enumerate(node.output)
            if o and k not in passed and (view.data_consumers(o) or o in view.outputs)
        ]
        if not used:
            return node.output[0], []
        cur = max(used, key=self._feeds_compute)
        taken: list[int] = []
        while cur not in view.outputs:
            consumers = view.data_consumers(cur)
            if len(consumers) != 1 or consumers[0] in absorbed:
                break
            nxt = consumers[0]
            if self.role(nxt) != "connector":
                break
            taken.append(nxt)
            cur = view.nodes[nxt].output[0]
        return cur, taken

    def _feeds_compute(self, name: str) -> bool:
        """Whether ``name`` reaches a graph output or a non-connector through connectors."""
        view = self.view
        frontier, seen = [name], set()
        while frontier:
            cur = frontier.pop()
            if cur in view.outputs:
                return True
            if cur in seen:
                continue
            seen.add(cur)
            for reader in view.data_consumers(cur):
                if self.role(reader) != "connector":
                    return True
                frontier.extend(view.nodes[reader].output)
        return False

    def _finish(
        self,
        layer: Layer,
        raw: list[Step],
        channel_axis: int | None,
        absorbed: set[int],
    ) -> None:
        """Fold the leading affine step into the parameters, record the rest."""
        absorbed.update(layer.nodes)
        chain = steps.normalise(raw)
        eps = [e for s in raw for e in s.epsilons]
        if eps:
            layer.hyper["epsilon"] = eps
        first = chain[0] if chain else None
        if (
            first is not None
            and first.kind == "affine"
            and channel_axis is not None
            and "weight" in layer.params
            and first.scale is not None
            and first.shift is not None
        ):
            scale = steps.channel_vector(first.scale, channel_axis)
            shift = steps.channel_vector(first.shift, channel_axis)
            if scale is not None and shift is not None:
                self._fold(layer, scale, shift, channel_axis)
                layer.folded = first
                chain = chain[1:]
        layer.steps = chain
        layer.hyper["post_ops"] = steps.describe(chain)
        for k, step in enumerate(chain):
            if step.kind == "affine" and step.scale is not None and step.shift is not None:
                layer.params[f"post{k}.scale"] = np.squeeze(step.scale)
                layer.params[f"post{k}.shift"] = np.squeeze(step.shift)
        self.layers.append(layer)
        for index in layer.nodes:
            self.owner[index] = len(self.layers) - 1

    @staticmethod
    def _fold(layer: Layer, scale: np.ndarray, shift: np.ndarray, channel_axis: int) -> None:
        weight = layer.params["weight"]
        if layer.kind in ("conv",):
            out = weight.shape[0]
            s = np.broadcast_to(scale, (out,))
            layer.params["weight"] = weight * s.reshape((-1,) + (1,) * (weight.ndim - 1))
            layer.params["bias"] = layer.params["bias"] * s + np.broadcast_to(shift, (out,))
        elif layer.kind == "dense":
            out = weight.shape[0]
            s = np.broadcast_to(scale, (out,))
            layer.params["weight"] = weight * s[:, None]
            layer.params["bias"] = layer.params["bias"] * s + np.broadcast_to(shift, (out,))
        elif layer.kind == "embedding":
            feats = weight.shape[1]
            s = np.broadcast_to(scale, (feats,))
            layer.params["weight"] = weight * s[None, :] + np.broadcast_to(shift, (feats,))
        else:  # recurrent outputs: keep the affine visible as its own parameters
            layer.params["post.scale"] = np.array(scale, dtype=np.float64)
            layer.params["post.shift"] = np.array(shift, dtype=np.float64)

    def _link_and_order(self) -> None:
        """Connect layers through connectors, compute depths, sort canonically."""
        view = self.view
        input_layer = {layer.name: k for k, layer in enumerate(self.layers) if layer.core is None}
        for layer in self.layers:
            preds: list[int] = []
            for name in layer.inputs:
                source = self._source_layer(name, input_layer)
                if source is not None and source not in preds:
                    preds.append(source)
            layer.preds = preds
        depth: dict[int, int] = {}

        def depth_of(k: int, seen: frozenset[int] = frozenset()) -> int:
            if k in depth:
                return depth[k]
            if k in seen:
                return 0
            preds = self.layers[k].preds
            value = 0 if not preds else 1 + max(depth_of(p, seen | {k}) for p in preds)
            depth[k] = value
            return value

        for k in range(len(self.layers)):
            self.layers[k].depth = depth_of(k)
        order = sorted(
            range(len(self.layers)),
            key=lambda k: (
                self.layers[k].depth,
                FAMILY_RANK.get(self.layers[k].family, 99),
                -self.layers[k].n_params,
                self.layers[k].core if self.layers[k].core is not None else -1,
            ),
        )
        remap = {old: new for new, old in enumerate(order)}
        self.layers = [self.layers[k] for k in order]
        for layer in self.layers:
            layer.preds = sorted(remap[p] for p in layer.preds)
        self.owner = {n: remap[k] for n, k in self.owner.items()}
        del view

    def _source_layer(self, name: str, input_layer: dict[str, int]) -> int | None:
        """The layer whose output reaches tensor ``name`` through connectors only."""
        view = self.view
        cur = name
        for _ in range(len(view.nodes) + 1):
            if cur in input_layer:
                return input_layer[cur]
            if cur not in view.producer:
                return None
            index = view.producer[cur]
            if index in self.owner:
                return self.owner[index]
            data_in = view.data_inputs(index)
            if not data_in:
                return None
            cur = data_in[0]
        return None

    # -- lookups -----------------------------------------------------------------------
    def node_names(self, layer: Layer) -> list[str]:
        """Report names of every node of ``layer``."""
        return [self.view.label(i) for i in layer.nodes]

    def layer_of_node(self, label: str) -> Layer | None:
        """The layer owning the node named ``label``, if any."""
        try:
            index = self.view.index_of(label)
        except ValueError:
            return None
        k = self.owner.get(index)
        return None if k is None else self.layers[k]


def _loop_pass_through(node: onnx.NodeProto) -> set[int]:
    """Indices of a Loop's outputs that return a loop-carried value unchanged (tf2onnx
    passes weights through the loop that way); empty for other nodes."""
    if node.op_type != "Loop":
        return set()
    body = attributes(node).get("body")
    if body is None:
        return set()
    carried = len(body.input) - 2
    return {
        j
        for j in range(carried)
        if j + 1 < len(body.output) and body.output[j + 1].name == body.input[j + 2].name
    }
