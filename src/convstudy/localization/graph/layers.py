"""A model as a graph of *layers*: what survives every converter's rewrites.

A layer is one core operator (Conv, Gemm/MatMul, Gather on a table, LSTM/GRU, a Keras
GRU ``Loop``, a pool, a residual Add, ...; :mod:`~convstudy.localization.graph.cores`)
plus what converters move around it: the zero ``Pad`` before a convolution, and the
post-ops after it (per-channel affine maps such as BatchNorm, a folded BatchNorm's
``Mul``/``Add`` or a bias ``Add``, and activations;
:mod:`~convstudy.localization.graph.post_ops`). Connectors
(:mod:`~convstudy.localization.graph.roles`) belong to no layer and only decide which
layer feeds which. Graph inputs are layers of kind "input".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from convstudy.localization.graph import post_ops, quantization
from convstudy.localization.graph.cores import Site, read_core
from convstudy.localization.graph.layout import Perm, compose
from convstudy.localization.graph.onnx_graph import GraphView, attributes
from convstudy.localization.graph.post_ops import PostOp
from convstudy.localization.graph.roles import CHAIN_CONNECTORS, QUANTIZERS, NodeRoles

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
        post_ops: the trailing post-ops not folded into ``params``.
        folded: the affine post-op folded into ``params`` (None if there is none).
        pads: indices of zero ``Pad`` nodes folded into the convolution's padding.
        preds: indices (in :attr:`LayerGraph.layers`) of the layers feeding this one.
        depth: longest chain of layers from a graph input.
        steps: the storage grid step of each quantized canonical parameter, element by
            element (:mod:`~convstudy.localization.graph.quantization`).
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
    post_ops: list[PostOp] = field(default_factory=list)
    folded: PostOp | None = None
    pads: list[int] = field(default_factory=list)
    preds: list[int] = field(default_factory=list)
    depth: int = 0
    steps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        """Number of canonical parameter values."""
        return int(sum(p.size for p in self.params.values()))


class LayerGraph:
    """The layers of one model, each node owned by at most one layer.

    Attributes:
        view: the graph view the layers were read from.
        roles: the role of each node and the layout of each tensor.
        layers: in canonical order: by depth, then family, then size, then graph order.
        owner: node index -> index of the layer that owns it.
        quantization: what the graph quantizes, in words ("" for a float graph).
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.view = GraphView(model)
        self.roles = NodeRoles(self.view)
        self.owner: dict[int, int] = {}
        self.layers: list[Layer] = []
        self._build()
        self.quantization = quantization.describe(self.view)
        if quantization.quantized(self.view):
            grids = quantization.Grids(self.view)
            for layer in self.layers:
                layer.steps = quantization.parameter_steps(grids, layer)

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
            role = self.roles.role(index)
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
                role = self.roles.role(producer)
                if pnode.op_type == "Transpose":
                    perm = attributes(pnode).get("perm")
                    if perm is None:
                        break
                    axis_map = [int(perm[a]) for a in axis_map]
                elif role == "pad":
                    amounts = self.roles.pad_amounts(producer)
                    assert amounts is not None
                    if len(amounts) != 2 * rank:
                        break
                    if any(amounts[axis_map[a]] or amounts[rank + axis_map[a]] for a in (0, 1)):
                        break
                    for s in range(spatial):
                        total[s] += amounts[axis_map[2 + s]]
                        total[spatial + s] += amounts[rank + axis_map[2 + s]]
                    pads_nodes.append(producer)
                elif pnode.op_type not in ("Identity", "Dropout", *QUANTIZERS):
                    break
                data_in = view.data_inputs(producer)
                if not data_in:
                    break
                cur = data_in[0]
            if pads_nodes:
                found[index] = (pads_nodes, total)
        return found

    def _trailing(
        self, start: str, perm: Perm | None, absorbed: set[int], signed: bool = False
    ) -> tuple[list[int], str, Perm | None, list[PostOp]]:
        """The chain of affine/activation nodes after ``start``: (nodes, end tensor,
        its layout, raw post-ops). In a layer whose core computes ``signed`` values (a
        convolution, a dense layer, a merge), a quantizer whose grid starts at 0 is the
        ReLU a quantization tool folded into it, read with its dequantizer."""
        view = self.view
        nodes: list[int] = []
        raw: list[PostOp] = []
        cur, cur_perm = start, perm
        end, end_perm, kept = start, perm, 0
        rank = self.roles.rank(start) or (len(perm) if perm is not None else 4)
        while cur not in view.outputs:
            consumers = view.data_consumers(cur)
            if len(consumers) != 1 or consumers[0] in absorbed:
                break
            index = consumers[0]
            node = view.nodes[index]
            role = self.roles.role(index)
            acted = any(op.kind == "act" for op in raw)
            clamp = quantization.relu_of(view, index) if signed and not acted else None
            if clamp is not None:
                raw.append(PostOp("act", "Relu", nodes=[index]))
                nodes += [index, *clamp[0]]
                cur = clamp[1]
                end, end_perm, kept = cur, cur_perm, len(nodes)
                continue
            if node.op_type in CHAIN_CONNECTORS and role == "connector":
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
                    PostOp(
                        "act", post_ops.activation_name(view, index, cur_perm, rank), nodes=[index]
                    )
                )
            elif role == "affine":
                affine = post_ops.affine_of(view, index, cur, cur_perm, rank)
                if affine is None:
                    break
                scale, shift, eps = affine
                raw.append(
                    PostOp(
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
        core = read_core(Site(self.roles, index, role, pads, absorbed))
        layer = Layer(
            kind=core.kind,
            family=core.family,
            core=index,
            name=self.view.label(index),
            op_type=self.view.nodes[index].op_type,
            nodes=[*(pads[0] if pads else []), index, *core.extra_nodes],
            inputs=core.inputs,
            output=core.output,
            perm=core.perm,
            params=core.params,
            hyper=core.hyper,
            binding=core.binding,
            pads=list(pads[0]) if pads else [],
        )
        absorbed.update(layer.nodes)
        signed = core.family in ("conv", "dense", "merge")
        nodes, end, end_perm, chain = self._trailing(layer.output, layer.perm, absorbed, signed)
        layer.nodes.extend(nodes)
        layer.output, layer.perm = end, end_perm
        self._finish(layer, core.post_ops + chain, core.channel_axis, absorbed)

    def _finish(
        self,
        layer: Layer,
        raw: list[PostOp],
        channel_axis: int | None,
        absorbed: set[int],
    ) -> None:
        """Fold the leading affine post-op into the parameters, record the rest."""
        absorbed.update(layer.nodes)
        chain = post_ops.normalise(raw)
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
            scale = post_ops.channel_vector(first.scale, channel_axis)
            shift = post_ops.channel_vector(first.shift, channel_axis)
            if scale is not None and shift is not None:
                self._fold_affine(layer, scale, shift, channel_axis)
                layer.folded = first
                chain = chain[1:]
        layer.post_ops = chain
        layer.hyper["post_ops"] = post_ops.describe(chain)
        for k, op in enumerate(chain):
            if op.kind == "affine" and op.scale is not None and op.shift is not None:
                layer.params[f"post{k}.scale"] = np.squeeze(op.scale)
                layer.params[f"post{k}.shift"] = np.squeeze(op.shift)
        self.layers.append(layer)
        for index in layer.nodes:
            self.owner[index] = len(self.layers) - 1

    @staticmethod
    def _fold_affine(layer: Layer, scale: np.ndarray, shift: np.ndarray, channel_axis: int) -> None:
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
        self._flatten_concats()
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

    def _flatten_concats(self) -> None:
        """A concatenation read only by concatenations on its axis is part of them: one
        converter writes concat(concat(a, b), concat(c, d)) (InceptionV3's mixed9 and
        mixed10 in TFLite), another, for the same function, concat(a, b, c, d) (tf2onnx's
        optimizer). The inner ones give their nodes and inputs to their reader."""
        readers: dict[int, list[int]] = {k: [] for k in range(len(self.layers))}
        for k, layer in enumerate(self.layers):
            for p in layer.preds:
                readers[p].append(k)
        outputs = set(self.view.outputs)
        inner = {
            k
            for k, layer in enumerate(self.layers)
            if layer.kind == "concat"
            and layer.output not in outputs
            and readers[k]
            and all(
                self.layers[r].kind == "concat"
                and self.layers[r].hyper.get("axis") == layer.hyper.get("axis")
                for r in readers[k]
            )
        }
        if not inner:
            return

        def flat(preds: list[int]) -> list[int]:
            out: list[int] = []
            for p in preds:
                for q in flat(self.layers[p].preds) if p in inner else [p]:
                    if q not in out:
                        out.append(q)
            return out

        for k in inner:
            outer = readers[k][0]
            while outer in inner:
                outer = readers[outer][0]
            self.layers[outer].nodes = [*self.layers[outer].nodes, *self.layers[k].nodes]
        for layer in self.layers:
            layer.preds = flat(layer.preds)
        kept = [k for k in range(len(self.layers)) if k not in inner]
        remap = {old: new for new, old in enumerate(kept)}
        for node, k in list(self.owner.items()):
            while k in inner:
                k = readers[k][0]
            self.owner[node] = remap[k]
        self.layers = [self.layers[k] for k in kept]
        for layer in self.layers:
            layer.preds = [remap[p] for p in layer.preds]

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
