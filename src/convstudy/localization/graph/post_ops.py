"""What follows a layer's core: per-channel affine maps and activations, normalised.

``Conv -> BatchNormalization -> Relu`` (PyTorch with BatchNorm kept), ``Conv -> Mul -> Relu``
(tf2onnx folding only the shift), ``Conv -> Relu`` (BatchNorm folded by the exporter) and
``Conv -> Mul(1) -> Relu -> Relu`` all compute the same function. Each chain is reduced
to *post-ops*: affine maps ``y = scale * x + shift`` with constants in the core's native
layout (consecutive ones composed, identities dropped) and activations with a canonical
spelling (``Clip(0, inf)`` is ``Relu``; repeated idempotent activations count once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convstudy.localization.graph.layout import Perm, inverse
from convstudy.localization.graph.onnx_graph import GraphView, attributes

#: Elementwise activations and their attributes that change the function.
ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "Relu": (),
    "LeakyRelu": ("alpha",),
    "PRelu": (),
    "Sigmoid": (),
    "HardSigmoid": ("alpha", "beta"),
    "Tanh": (),
    "Elu": ("alpha",),
    "Selu": ("alpha", "gamma"),
    "Celu": ("alpha",),
    "Softplus": (),
    "Softsign": (),
    "HardSwish": (),
    "Mish": (),
    "Gelu": ("approximate",),
    "ThresholdedRelu": ("alpha",),
    "Clip": (),
    "Softmax": ("axis",),
    "LogSoftmax": ("axis",),
    "Exp": (),
    "Log": (),
    "Abs": (),
    "Sqrt": (),
    "Erf": (),
    "Sin": (),
    "Cos": (),
}
_ATTR_DEFAULTS: dict[str, dict[str, Any]] = {
    "LeakyRelu": {"alpha": 0.01},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Elu": {"alpha": 1.0},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
    "Celu": {"alpha": 1.0},
    "Gelu": {"approximate": "none"},
    "ThresholdedRelu": {"alpha": 1.0},
    "Softmax": {"axis": -1},
    "LogSoftmax": {"axis": -1},
}
_IDEMPOTENT = frozenset({"Relu", "Relu6", "Abs"})
AFFINE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "BatchNormalization"})


@dataclass
class PostOp:
    """One post-op: an affine map or an activation after a layer's core.

    Attributes:
        kind: "affine" or "act".
        name: "affine", or the activation's canonical spelling ("Relu", "LeakyRelu(alpha=0.1)").
        scale, shift: affine constants broadcastable to the native output (None for "act").
        nodes: indices of the graph nodes that make up the post-op.
        epsilons: the epsilons of the BatchNormalization nodes composed into an affine post-op.
    """

    kind: str
    name: str
    scale: np.ndarray | None = None
    shift: np.ndarray | None = None
    nodes: list[int] = field(default_factory=list)
    epsilons: list[float] = field(default_factory=list)

    def is_identity(self) -> bool:
        """An affine post-op that changes nothing."""
        return (
            self.kind == "affine"
            and self.scale is not None
            and self.shift is not None
            and bool(np.all(self.scale == 1.0))
            and bool(np.all(self.shift == 0.0))
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def activation_name(view: GraphView, index: int, perm: Perm | None, rank: int | None) -> str:
    """Canonical spelling of the activation node ``index`` (its function, not its spelling)."""
    node = view.nodes[index]
    op = node.op_type
    attrs = attributes(node)
    if op == "Clip":
        lo, hi = attrs.get("min"), attrs.get("max")
        if len(node.input) > 1 and node.input[1]:
            v = view.const(node.input[1])
            lo = None if v is None else float(v)
        if len(node.input) > 2 and node.input[2]:
            v = view.const(node.input[2])
            hi = None if v is None else float(v)
        if lo == 0.0 and (hi is None or np.isinf(hi)):
            return "Relu"
        if lo == 0.0 and hi == 6.0:
            return "Relu6"
        return f"Clip(min={_fmt(lo)}, max={_fmt(hi)})"
    if op == "PRelu":
        slope = view.const(node.input[1])
        if slope is not None and slope.size and np.all(slope == slope.flat[0]):
            return f"LeakyRelu(alpha={_fmt(float(slope.flat[0]))})"
        return "PRelu"
    keys = ACTIVATIONS.get(op, ())
    values = {**_ATTR_DEFAULTS.get(op, {}), **{k: attrs[k] for k in keys if k in attrs}}
    if op in ("Softmax", "LogSoftmax") and rank:
        axis = int(values["axis"]) % rank
        values["axis"] = perm[axis] if perm is not None else axis
    if op == "LeakyRelu" and float(values["alpha"]) == 0.0:
        return "Relu"
    if not values:
        return op
    inside = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(values.items()))
    return f"{op}({inside})"


def _native_constant(value: np.ndarray, perm: Perm | None, rank: int) -> np.ndarray:
    """A broadcast constant of a tensor laid out as ``perm``, expressed in native order."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim > rank:
        value = value.reshape(value.shape[value.ndim - rank :])
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    if perm is None or len(perm) != rank:
        return full
    return np.transpose(full, inverse(perm))


def affine_of(
    view: GraphView, index: int, data_input: str, perm: Perm | None, rank: int
) -> tuple[np.ndarray, np.ndarray, float | None] | None:
    """(scale, shift, epsilon) of an affine node in native layout, or None if not affine."""
    node = view.nodes[index]
    op = node.op_type
    if op == "BatchNormalization":
        consts = [view.const(i) for i in node.input[1:5]]
        if any(c is None for c in consts) or node.input[0] != data_input:
            return None
        if attributes(node).get("training_mode", 0):
            return None
        gamma, beta, mean, var = (np.asarray(c, dtype=np.float64) for c in consts)  # type: ignore[arg-type]
        eps = float(attributes(node).get("epsilon", 1e-5))
        k = gamma / np.sqrt(var + eps)
        shape = [1] * rank
        shape[1] = -1
        scale = _native_constant(k.reshape(shape), perm, rank)
        shift = _native_constant((beta - mean * k).reshape(shape), perm, rank)
        return scale, shift, eps
    if op == "Neg":
        return -np.ones((1,) * rank), np.zeros((1,) * rank), None
    if op not in ("Add", "Sub", "Mul", "Div") or len(node.input) != 2:
        return None
    a, b = node.input
    const_first = a != data_input
    other = a if const_first else b
    if (b if const_first else a) != data_input:
        return None
    value = view.const(other)
    if value is None or not np.issubdtype(value.dtype, np.floating):
        return None
    c = _native_constant(value, perm, rank)
    one, zero = np.ones((1,) * rank), np.zeros((1,) * rank)
    if op == "Add":
        return one, c, None
    if op == "Mul":
        return c, zero, None
    if op == "Sub":
        return (-one, c, None) if const_first else (one, -c, None)
    if const_first:  # c / x is not affine
        return None
    return 1.0 / c, zero, None


def compose(first: PostOp, second: PostOp) -> PostOp:
    """The affine post-op ``second(first(x))``."""
    assert first.scale is not None and first.shift is not None
    assert second.scale is not None and second.shift is not None
    return PostOp(
        kind="affine",
        name="affine",
        scale=first.scale * second.scale,
        shift=first.shift * second.scale + second.shift,
        nodes=first.nodes + second.nodes,
        epsilons=first.epsilons + second.epsilons,
    )


def normalise(post_ops: list[PostOp]) -> list[PostOp]:
    """Compose consecutive affine maps, drop identities, collapse repeated idempotents."""
    out: list[PostOp] = []
    for op in post_ops:
        if out and op.kind == "affine" and out[-1].kind == "affine":
            out[-1] = compose(out[-1], op)
            continue
        if (
            out
            and op.kind == "act"
            and out[-1].kind == "act"
            and op.name == out[-1].name
            and op.name in _IDEMPOTENT
        ):
            out[-1] = PostOp("act", op.name, nodes=out[-1].nodes + op.nodes)
            continue
        out.append(op)
    kept = [s for s in out if not s.is_identity()]
    return kept


def channel_vector(array: np.ndarray, axis: int) -> np.ndarray | None:
    """The per-channel vector of a native-broadcast constant, or None if it varies along
    another axis. A scalar gives a length-1 vector."""
    axis = axis % array.ndim
    if any(size != 1 for a, size in enumerate(array.shape) if a != axis):
        return None
    return array.reshape(-1)


def describe(post_ops: list[PostOp]) -> list[str]:
    """The post-ops' names, as compared by the hyperparameter stage."""
    return [op.name for op in post_ops]
