"""The core of a layer, read per ONNX op type.

A core is the operator a layer is built around. :data:`CORE_OPS` maps an op type to the
handler that reads its core: the layer's kind and family, its canonical parameters and
hyperparameters (:mod:`~convstudy.localization.graph.canonical`), the tensor it outputs
and that tensor's layout. A handler declines (None) a node of a form it does not read (a
``MatMul`` without constant weights, a ``ReduceMean`` over channels); such a node, and an
op without a handler, is read by its role: a standalone activation, affine map or pad,
or else a generic layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from convstudy.localization.graph import canonical, post_ops
from convstudy.localization.graph.layout import Perm, identity
from convstudy.localization.graph.onnx_graph import GraphView, attributes
from convstudy.localization.graph.post_ops import PostOp
from convstudy.localization.graph.roles import MERGES, NodeRoles

POOLS = {"MaxPool": "maxpool", "AveragePool": "avgpool", "LpPool": "lppool"}
GLOBAL_POOLS = {
    "GlobalAveragePool": "global_avgpool",
    "GlobalMaxPool": "global_maxpool",
    "ReduceMean": "global_avgpool",
    "ReduceMax": "global_maxpool",
}


@dataclass
class Site:
    """A node about to become a layer's core, and what a handler reads it with.

    Attributes:
        roles: the roles and tensor layouts of the node's graph.
        index: the node's index in the graph view.
        role: the node's role (see :mod:`~convstudy.localization.graph.roles`).
        pads: zero ``Pad`` nodes folded into a convolution, and their padding, if any.
        absorbed: nodes already owned by a layer.
    """

    roles: NodeRoles
    index: int
    role: str
    pads: tuple[list[int], list[int]] | None
    absorbed: set[int]

    def __post_init__(self) -> None:
        self.view: GraphView = self.roles.view
        self.node: onnx.NodeProto = self.view.nodes[self.index]
        self.op: str = self.node.op_type
        self.data_in: list[str] = self.view.data_inputs(self.index)
        self.output: str = self.node.output[0]
        self.rank: int | None = self.roles.rank(self.output)

    @property
    def native(self) -> Perm | None:
        """The native layout of the node's output, when its rank is known."""
        return identity(self.rank) if self.rank is not None else None

    def input_perm(self) -> Perm | None:
        """The layout of the node's first data input, when known."""
        return self.roles.tensor_perm(self.data_in[0]) if self.data_in else None


@dataclass
class Core:
    """What a handler read from a core node.

    Attributes:
        kind, family: as in :class:`~convstudy.localization.graph.layers.Layer`.
        output: the tensor the layer's trailing post-ops start from.
        perm: layout of ``output`` relative to the core's native layout, when known.
        inputs: data tensors the layer reads from outside itself.
        channel_axis: the axis a following affine map may be folded along (None: never).
        params, hyper, binding: canonical parameters, hyperparameters and their binding.
        extra_nodes: nodes after the core that belong to it (a recurrent layer's pickers).
        post_ops: post-ops the core node itself computes (a standalone activation or
            affine map, a ``FusedConv``'s activation).
    """

    kind: str
    family: str
    output: str
    perm: Perm | None
    inputs: list[str]
    channel_axis: int | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    hyper: dict[str, Any] = field(default_factory=dict)
    binding: dict[str, Any] = field(default_factory=dict)
    extra_nodes: list[int] = field(default_factory=list)
    post_ops: list[PostOp] = field(default_factory=list)


Handler = Callable[[Site], Core | None]


def _conv(site: Site) -> Core:
    node, pads = site.node, site.pads
    transposed = site.op == "ConvTranspose"
    params, hyper, binding = canonical.conv(site.view, site.index, pads[1] if pads else None)
    inputs = list(site.data_in)
    if pads:
        inputs = _pad_inputs(site.view, pads[0]) + [i for i in inputs if i != node.input[0]]
    perm = site.native
    if perm is None and "weight" in params:
        perm = identity(params["weight"].ndim)
    fused: list[PostOp] = []
    if site.op == "FusedConv" and (act := attributes(node).get("activation")):
        fused.append(PostOp("act", str(act), nodes=[site.index]))
    return Core(
        kind="conv_transpose" if transposed else "conv",
        family="conv",
        output=site.output,
        perm=perm,
        inputs=inputs,
        channel_axis=None if transposed else 1,
        params=params,
        hyper=hyper,
        binding=binding,
        post_ops=fused,
    )


def _pad_inputs(view: GraphView, pads_nodes: list[int]) -> list[str]:
    return view.data_inputs(min(pads_nodes))[:1]


def _dense(site: Site) -> Core | None:
    order = site.roles.input_order(site.node.input[0])
    dense = canonical.dense(site.view, site.index, order)
    if dense is None:
        return None
    params, hyper, binding = dense
    return Core(
        "dense", "dense", site.output, site.native, list(site.data_in), -1, params, hyper, binding
    )


def _embedding(site: Site) -> Core | None:
    if not site.view.is_const(site.node.input[0]) or site.data_in:
        return None
    params, hyper, binding = canonical.embedding(site.view, site.index)
    return Core(
        "embedding",
        "embedding",
        site.output,
        site.native,
        list(site.data_in),
        -1,
        params,
        hyper,
        binding,
    )


def _recurrent(site: Site) -> Core | None:
    if site.op == "Loop":
        kind, found = "gru", canonical.loop_gru(site.view, site.index)
    else:
        kind, found = site.op.lower(), canonical.recurrent(site.view, site.index)
    if found is None:
        return None
    params, hyper, binding = found
    out, extra_nodes = _recurrent_output(site)
    rank = site.roles.rank(out)
    perm = identity(rank) if rank is not None and rank <= 2 else None
    return Core(
        kind,
        "recurrent",
        out,
        perm,
        list(site.data_in),
        -1,
        params,
        hyper,
        binding,
        extra_nodes=extra_nodes,
    )


def _recurrent_output(site: Site) -> tuple[str, list[int]]:
    """The tensor after the connectors that pick a recurrent layer's result (the last
    step's hidden state, usually), and those connector nodes."""
    view, node, roles = site.view, site.node, site.roles
    passed = _loop_pass_through(node)
    used = [
        o
        for k, o in enumerate(node.output)
        if o and k not in passed and (view.data_consumers(o) or o in view.outputs)
    ]
    if not used:
        return node.output[0], []
    cur = max(used, key=lambda name: _feeds_compute(roles, name))
    taken: list[int] = []
    while cur not in view.outputs:
        consumers = view.data_consumers(cur)
        if len(consumers) != 1 or consumers[0] in site.absorbed:
            break
        nxt = consumers[0]
        if roles.role(nxt) != "connector":
            break
        taken.append(nxt)
        cur = view.nodes[nxt].output[0]
    return cur, taken


def _feeds_compute(roles: NodeRoles, name: str) -> bool:
    """Whether ``name`` reaches a graph output or a non-connector through connectors."""
    view = roles.view
    frontier, seen = [name], set()
    while frontier:
        cur = frontier.pop()
        if cur in view.outputs:
            return True
        if cur in seen:
            continue
        seen.add(cur)
        for reader in view.data_consumers(cur):
            if roles.role(reader) != "connector":
                return True
            frontier.extend(view.nodes[reader].output)
    return False


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


def _pool(site: Site) -> Core:
    hyper = canonical.pool(site.view, site.index)
    return Core(POOLS[site.op], "pool", site.output, site.native, list(site.data_in), hyper=hyper)


def _global_pool(site: Site) -> Core | None:
    if not _is_global(site):
        return None
    return Core(GLOBAL_POOLS[site.op], "global_pool", site.output, None, list(site.data_in))


def _is_global(site: Site) -> bool:
    """Whether the pool or reduction covers every spatial axis (and nothing else)."""
    view, node = site.view, site.node
    if node.op_type.startswith("Global"):
        return True
    rank = site.roles.rank(site.data_in[0]) if site.data_in else None
    if rank is None or rank < 3:
        return False
    axes = attributes(node).get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = view.const(node.input[1])
        axes = None if value is None else value.tolist()
    if axes is None:
        return False
    perm = site.roles.tensor_perm(site.data_in[0]) or identity(rank)
    native_axes = {perm[int(a) % rank] for a in axes}
    return native_axes == set(range(2, rank))


def _merge(site: Site) -> Core | None:
    if len(site.data_in) < 2:
        return None
    return Core(site.op.lower(), "merge", site.output, site.input_perm(), list(site.data_in))


def _concat(site: Site) -> Core:
    in_perm = site.input_perm()
    axis = int(attributes(site.node).get("axis", 0))
    if site.rank:
        axis %= site.rank
    hyper = {"axis": in_perm[axis] if in_perm is not None else axis}
    return Core("concat", "concat", site.output, in_perm, list(site.data_in), hyper=hyper)


def _activation(site: Site) -> Core:
    perm = site.input_perm()
    rank_in = site.roles.rank(site.data_in[0]) if site.data_in else None
    name = post_ops.activation_name(site.view, site.index, perm, rank_in)
    act = PostOp("act", name, nodes=[site.index])
    return Core("activation", "activation", site.output, perm, list(site.data_in), post_ops=[act])


def _affine(site: Site) -> Core:
    perm = site.input_perm()
    rank_in = site.roles.rank(site.data_in[0]) if site.data_in else None
    found: list[PostOp] = []
    affine = post_ops.affine_of(site.view, site.index, site.data_in[0], perm, rank_in or 4)
    if affine is not None:
        scale, shift, eps = affine
        epsilons = [] if eps is None else [eps]
        found.append(
            PostOp(
                "affine", "affine", scale=scale, shift=shift, nodes=[site.index], epsilons=epsilons
            )
        )
    return Core("affine", "affine", site.output, perm, list(site.data_in), post_ops=found)


def _pad(site: Site) -> Core:
    hyper = {"pads": site.roles.pad_amounts(site.index)}
    return Core("pad", "pad", site.output, site.input_perm(), list(site.data_in), hyper=hyper)


def _generic(site: Site) -> Core:
    params, hyper, binding = canonical.generic(site.view, site.index)
    return Core(
        site.op.lower(),
        site.op,
        site.output,
        site.native,
        list(site.data_in),
        params=params,
        hyper=hyper,
        binding=binding,
    )


#: The handler of each op type that forms a core of its own kind.
CORE_OPS: dict[str, Handler] = {
    "Conv": _conv,
    "FusedConv": _conv,
    "ConvTranspose": _conv,
    "Gemm": _dense,
    "MatMul": _dense,
    "Gather": _embedding,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    "Loop": _recurrent,
    **dict.fromkeys(POOLS, _pool),
    **dict.fromkeys(GLOBAL_POOLS, _global_pool),
    **dict.fromkeys(MERGES, _merge),
    "Concat": _concat,
}
#: The handler of a node no op handler read, by its role.
BY_ROLE: dict[str, Callable[[Site], Core]] = {
    "act": _activation,
    "affine": _affine,
    "pad": _pad,
}


def read_core(site: Site) -> Core:
    """The core of ``site``: its op's handler, else the handler of its role, else generic."""
    handler = CORE_OPS.get(site.op)
    core = handler(site) if handler is not None else None
    if core is None:
        core = BY_ROLE.get(site.role, _generic)(site)
    return core
