"""Quantized graphs seen as the float layers they stand for, and the error they carry.

A quantized model (QDQ form, :mod:`convstudy.formats.qdq`) stores weights on a grid:
``DequantizeLinear`` of an integer constant (int8 weights, int32 biases), or a ``Cast``
of a float16 constant to float32 (a TFLite model's float16 weights). The graph model reads
such a weight as the float constant it dequantizes to (:mod:`.folding`), and Q/DQ pairs on
activations as connectors (:mod:`.roles`). What the quantization changes is *expected*:

- a weight differs from the float weight it was made from by at most half its grid
  step, element by element (:func:`parameter_steps` gives each canonical parameter's
  steps);
- a quantizer whose grid starts at 0 clamps negative values: it is the ReLU a tool folded
  into the layer before it (:func:`relu_of`);
- a layer's output differs by the error quantizing weights and activations adds up to
  there. It is measured on the model itself: :func:`float_twin` is the model with its
  activation quantizers removed and each stored weight moved by a uniform draw within its
  own grid step, an error of the size the weights' quantization made; the difference
  between the model and its twin at a layer is the size of the quantization's error
  there.

Only ``onnx`` and ``numpy`` are used here.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import numpy_helper

from convstudy.localization.graph.folding import fold
from convstudy.localization.graph.onnx_graph import GraphView, attributes

if TYPE_CHECKING:
    from convstudy.localization.graph.layers import Layer

#: Ops that move a constant's elements without changing them: a grid moves with them.
_STRUCTURAL = frozenset(
    {"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Concat"}
)
_ACTIVATION_QUANTIZERS = frozenset({"QuantizeLinear", "DynamicQuantizeLinear"})
#: Connectors between a clamping quantizer and its dequantizer that keep the layout.
_CARRIED = frozenset({"Identity"})


class Grids:
    """The storage grid of each constant of one graph, computed on first use."""

    def __init__(self, view: GraphView) -> None:
        self.view = view
        self._steps: dict[str, np.ndarray | None] = {}

    def step(self, name: str) -> np.ndarray | None:
        """The grid step of constant ``name`` element by element (the shape of its value),
        or None when it is stored at full precision."""
        if name not in self._steps:
            self._steps[name] = None  # guards against cycles
            self._steps[name] = self._step(name)
        return self._steps[name]

    def _step(self, name: str) -> np.ndarray | None:
        view = self.view
        value = view.const(name)
        if value is None or name not in view.producer:
            return None
        node = view.nodes[view.producer[name]]
        if node.op_type == "DequantizeLinear":
            scale = view.const(node.input[1])
            if scale is None:
                return None
            if scale.size > 1:
                axis = int(attributes(node).get("axis", 1)) % value.ndim
                shape = [1] * value.ndim
                shape[axis] = -1
                scale = scale.reshape(shape)
            return np.broadcast_to(np.abs(scale).astype(np.float64), value.shape).copy()
        if node.op_type == "Cast":
            stored = view.const(node.input[0])
            if stored is not None and stored.dtype == np.float16 and value.dtype != np.float16:
                return np.spacing(np.abs(stored)).astype(np.float64)
        if node.op_type in _STRUCTURAL:
            inputs = [i for i in node.input if i]
            steps = [self.step(i) for i in inputs]
            if node.op_type == "Concat":
                if all(s is None for s in steps):
                    return None
                values = [view.const(i) for i in inputs]
                if any(v is None for v in values):
                    return None
                parts = [
                    np.zeros(np.shape(v)) if s is None else s  # type: ignore[arg-type]
                    for v, s in zip(values, steps, strict=True)
                ]
                return np.concatenate(parts, axis=int(attributes(node)["axis"]))
            if steps and steps[0] is not None:
                rest = [view.const(i) for i in inputs[1:]]
                if all(r is not None for r in rest):
                    moved = fold(node.op_type, [steps[0], *rest], attributes(node))  # type: ignore[list-item]
                    return None if moved is None else np.asarray(moved, dtype=np.float64)
        return None


def clamps_at_zero(view: GraphView, index: int) -> bool:
    """Whether node ``index`` quantizes onto a grid that starts at 0 (its zero point is its
    type's smallest value): it maps every negative value to 0, as a ReLU does."""
    node = view.nodes[index]
    if node.op_type != "QuantizeLinear" or len(node.input) < 3:
        return False
    zero = view.const(node.input[2])
    if zero is None or not np.issubdtype(zero.dtype, np.integer):
        return False
    return bool(np.all(zero == np.iinfo(zero.dtype).min))


def relu_of(view: GraphView, index: int) -> tuple[list[int], str] | None:
    """When node ``index`` clamps at zero (:func:`clamps_at_zero`) and its quantized values
    reach one DequantizeLinear (through Identity nodes only): the pair computes a ReLU. The
    nodes from the quantizer's first reader to the dequantizer, and the dequantized
    tensor; else None."""
    if not clamps_at_zero(view, index):
        return None
    nodes: list[int] = []
    current = view.nodes[index].output[0]
    for _ in range(len(view.nodes)):
        readers = view.data_consumers(current)
        if len(readers) != 1:
            return None
        node = view.nodes[readers[0]]
        nodes.append(readers[0])
        if node.op_type == "DequantizeLinear":
            return nodes, node.output[0]
        if node.op_type not in _CARRIED:
            return None
        current = node.output[0]
    return None


def quantized(view: GraphView) -> bool:
    """Whether the graph stores weights on a grid or quantizes activations."""
    for node in view.nodes:
        if node.op_type in _ACTIVATION_QUANTIZERS:
            return True
        if node.op_type == "DequantizeLinear" and view.const(node.output[0]) is not None:
            return True
        if node.op_type == "Cast":
            stored = view.const(node.input[0])
            if stored is not None and stored.dtype == np.float16:
                return True
    return False


def describe(view: GraphView) -> str:
    """What is quantized, in words (empty for a float graph)."""
    weights: set[str] = set()
    activations: set[str] = set()
    for node in view.nodes:
        if node.op_type == "DequantizeLinear" and view.const(node.output[0]) is not None:
            stored = view.const(node.input[0]) if node.input[0] in view.initializers else None
            if stored is None:
                stored = _stored(view, node.input[0])
            if stored is not None and stored.dtype != np.int32:
                weights.add(str(stored.dtype))
        elif node.op_type == "Cast" and (v := view.const(node.input[0])) is not None:
            if v.dtype == np.float16:
                weights.add("float16")
        elif node.op_type == "QuantizeLinear" and len(node.input) > 2:
            zero = view.const(node.input[2])
            activations.add("int8" if zero is None else str(zero.dtype))
        elif node.op_type == "DynamicQuantizeLinear":
            activations.add("dynamic uint8")
    parts = []
    if weights:
        parts.append(f"{'/'.join(sorted(weights))} weights")
    if activations:
        parts.append(f"{'/'.join(sorted(activations))} activations")
    return ", ".join(parts)


def _stored(view: GraphView, name: str) -> np.ndarray | None:
    init = view.initializers.get(name)
    return None if init is None else numpy_helper.to_array(init)


def parameter_steps(grids: Grids, layer: Layer) -> dict[str, np.ndarray]:
    """The grid steps of a layer's canonical parameters (as :mod:`.canonical` lays them
    out); a parameter without a grid is absent."""
    view = grids.view
    if layer.core is None:
        return {}
    core = view.nodes[layer.core]
    steps: dict[str, np.ndarray] = {}
    weight = layer.params.get("weight")
    if layer.kind in ("conv", "conv_transpose") and weight is not None:
        w = grids.step(core.input[1])
        b = grids.step(core.input[2]) if len(core.input) > 2 and core.input[2] else None
        steps = _with(w, b, weight.shape, layer.params["bias"].shape)
    elif layer.kind == "dense" and weight is not None:
        w = grids.step(str(layer.binding.get("weight", "")))
        if w is not None:
            w = abs(float(layer.binding.get("alpha", 1.0))) * (
                w if layer.binding.get("trans_b") else w.T
            )
            order = layer.binding.get("order")
            if order is not None and len(order) == w.shape[1]:
                canonical = np.empty_like(w)
                canonical[:, order] = w
                w = canonical
        b = None
        if core.op_type == "Gemm" and len(core.input) > 2 and core.input[2]:
            c = grids.step(core.input[2])
            if c is not None:
                beta = abs(float(layer.binding.get("beta", 1.0)))
                b = beta * np.broadcast_to(c.reshape(-1), layer.params["bias"].shape)
        steps = _with(w, b, weight.shape, layer.params["bias"].shape)
    elif layer.kind == "embedding" and weight is not None:
        w = grids.step(str(layer.binding.get("weight", "")))
        if w is not None:
            steps["weight"] = w
    if steps and layer.folded is not None and layer.folded.scale is not None:
        _fold_steps(grids, layer, steps)
    return steps


def _with(
    w: np.ndarray | None, b: np.ndarray | None, w_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    if w is None and b is None:
        return {}
    return {
        "weight": np.zeros(w_shape) if w is None else np.broadcast_to(w, w_shape).copy(),
        "bias": np.zeros(b_shape) if b is None else np.broadcast_to(b, b_shape).copy(),
    }


def _fold_steps(grids: Grids, layer: Layer, steps: dict[str, np.ndarray]) -> None:
    """Steps through a folded affine post-op (a bias ``Add`` of a dequantized bias after a
    ``MatMul``, a per-channel ``Mul``): scaled as the parameters were, the shift's largest
    step added to the bias."""
    from convstudy.localization.graph.post_ops import channel_vector

    folded = layer.folded
    assert folded is not None and folded.scale is not None
    axis = 1 if layer.kind == "conv" else -1
    scale = channel_vector(folded.scale, axis)
    out = steps["bias"].shape[0]
    s = np.abs(np.broadcast_to(1.0 if scale is None else scale, (out,)))
    steps["weight"] = steps["weight"] * s.reshape((-1,) + (1,) * (steps["weight"].ndim - 1))
    shift_steps = [
        grids.step(name)
        for index in folded.nodes
        for name in grids.view.nodes[index].input
        if grids.view.const(name) is not None
    ]
    largest = max(
        (float(np.max(st)) for st in shift_steps if st is not None and st.size), default=0.0
    )
    steps["bias"] = steps["bias"] * s + largest


def float_twin(model: onnx.ModelProto, seed: int | None = None) -> onnx.ModelProto:
    """``model`` without its activation quantizers (each QuantizeLinear/DequantizeLinear on
    an activation passes its input on) and, with ``seed``, each stored weight replaced by its
    float value moved uniformly within half its grid step. Tensor names are kept.

    Each weight's draw comes from ``seed`` and the weight's own bytes, not from its place
    in the graph: a converter may emit the same weights in another order, under other
    generated names, from one run to the next (tf2onnx's constant folding does), and the
    twin must not change with it."""
    view = GraphView(model)
    grids = Grids(view)
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    graph = twin.graph
    clamps = {n.output[0] for i, n in enumerate(view.nodes) if clamps_at_zero(view, i)}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        out = node.output[0] if node.output else ""
        value = view.const(out) if out else None
        half = view.const(node.input[0]) if node.op_type == "Cast" else None
        stored = node.op_type == "DequantizeLinear" or (
            half is not None and half.dtype == np.float16
        )
        if stored and value is not None:
            if seed is None:
                nodes.append(node)
                continue
            step = grids.step(out)
            moved = value.astype(np.float64)
            if step is not None:
                rng = np.random.default_rng([seed, zlib.crc32(value.tobytes())])
                moved = moved + rng.uniform(-0.5, 0.5, value.shape) * step
            graph.initializer.append(numpy_helper.from_array(moved.astype(value.dtype), out))
            continue
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and out in view.data:
            # a grid that starts at 0 keeps its clamp: the ReLU it stands for
            op = "Relu" if out in clamps else "Identity"
            nodes.append(onnx.helper.make_node(op, [node.input[0]], [out]))
            continue
        if node.op_type == "DynamicQuantizeLinear":
            nodes.append(onnx.helper.make_node("Identity", [node.input[0]], [out]))
            continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # integer types of the removed quantizers' outputs are stale
    return twin
