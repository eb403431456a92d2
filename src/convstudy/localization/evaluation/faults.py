"""Planting one known fault into a faithful ONNX model.

Every fault is a bug a converter could plausibly introduce: perturbed or coarsely rounded
weights, a shifted bias, a flipped or transposed kernel, a wrong flatten order, LSTM/GRU
gates in the wrong order, a changed padding, a swapped activation, a dropped activation,
an inserted scaling node, a max pool turned average pool, a BatchNorm epsilon changed to
Keras' default. Each returns the faulty model and the name of the node it changed (the
node a localization must name, or whose layer it must name).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from convstudy.localization.evaluation.planting import (
    Planted,
    Planter,
    copy_with_view,
    pick,
    set_input,
    weight_slots,
    weighted_nodes,
)
from convstudy.localization.graph.canonical import loop_gru
from convstudy.localization.graph.onnx_graph import GraphView, attributes
from convstudy.localization.repair import surgery


def _map_weights(
    model: onnx.ModelProto,
    rng: np.random.Generator,
    kind: str,
    ops: tuple[str, ...] | None,
    change: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    description: str,
) -> tuple[onnx.ModelProto, Planted]:
    out, view = copy_with_view(model)
    candidates = [i for i in weighted_nodes(view) if ops is None or view.nodes[i].op_type in ops]
    index = pick(candidates, rng, "weighted node")
    node = view.nodes[index]
    for slot in weight_slots(view, index)[:1]:
        weight = view.const(node.input[slot])
        assert weight is not None
        changed = change(weight.astype(np.float64), rng).astype(weight.dtype)
        set_input(out, node, slot, changed)
    return surgery.check(out), Planted(kind, view.label(index), description)


def weight_noise(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Gaussian noise of 0.3 standard deviations of the weight tensor."""

    def change(w: np.ndarray, r: np.random.Generator) -> np.ndarray:
        return w + r.normal(0.0, 0.3 * float(w.std()), w.shape)

    return _map_weights(model, rng, "weight_noise", None, change, "weights + N(0, 0.3 std)")


def weight_rounding(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Weights rounded to 9 levels (a step of max|w| / 4)."""

    def change(w: np.ndarray, r: np.random.Generator) -> np.ndarray:
        step = float(np.max(np.abs(w))) / 4 or 1.0
        return np.round(w / step) * step

    return _map_weights(model, rng, "weight_rounding", None, change, "weights on a 9-level grid")


def flipped_kernel(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A convolution kernel flipped in both spatial axes (correlation vs convolution); only
    kernels larger than 1 x 1, where the flip changes something."""
    out, view = copy_with_view(model)
    candidates = [
        i
        for i in weighted_nodes(view)
        if view.nodes[i].op_type == "Conv"
        and (w := view.const(view.nodes[i].input[1])) is not None
        and w.ndim == 4
        and w.shape[2] * w.shape[3] > 1
    ]
    index = pick(candidates, rng, "convolution kernel larger than 1 x 1")
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    set_input(out, node, 1, np.ascontiguousarray(weight[:, :, ::-1, ::-1]))
    return surgery.check(out), Planted(
        "flipped_kernel", view.label(index), "kernel[:, :, ::-1, ::-1]"
    )


def transposed_kernel(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A square convolution kernel with its spatial axes swapped (HW vs WH)."""
    out, view = copy_with_view(model)
    candidates = [
        i
        for i in weighted_nodes(view)
        if view.nodes[i].op_type == "Conv"
        and (w := view.const(view.nodes[i].input[1])) is not None
        and w.ndim == 4
        and w.shape[2] == w.shape[3] > 1
    ]
    index = pick(candidates, rng, "square convolution kernel")
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    set_input(out, node, 1, np.ascontiguousarray(weight.transpose(0, 1, 3, 2)))
    return surgery.check(out), Planted("transposed_kernel", view.label(index), "kernel HW -> WH")


def _bias_target(view: GraphView, index: int) -> tuple[onnx.NodeProto, int, np.ndarray] | None:
    """(node, slot, current bias) of a weighted node's bias (a MatMul's following Add)."""
    node = view.nodes[index]
    op = node.op_type
    if op in ("Conv", "Gemm"):
        weight = view.const(node.input[1])
        assert weight is not None
        channels = (
            weight.shape[0]
            if op == "Conv" or attributes(node).get("transB", 0)
            else weight.shape[1]
        )
        bias = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return node, 2, np.zeros(channels, weight.dtype) if bias is None else bias
    if op == "MatMul":
        for reader in view.data_consumers(node.output[0]):
            add = view.nodes[reader]
            if add.op_type == "Add":
                slot = 1 if add.input[0] == node.output[0] else 0
                value = view.const(add.input[slot])
                if value is not None:
                    return add, slot, value
        return None
    if op in ("LSTM", "GRU"):
        bias = view.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if bias is None:
            w = view.const(node.input[1])
            assert w is not None
            bias = np.zeros((w.shape[0], 2 * w.shape[1]), w.dtype)
        return node, 3, bias
    if op == "Loop":
        found = loop_gru(view, index)
        if found is not None:
            name = found[2]["bias"]
            value = view.const(name)
            if name in node.input and value is not None:
                return node, list(node.input).index(name), value
    return None


def bias_shift(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """Biases shifted per channel by N(0, 1) times half the layer's typical pre-activation."""
    out, view = copy_with_view(model)
    candidates = [i for i in weighted_nodes(view) if _bias_target(view, i) is not None]
    index = pick(candidates, rng, "node with a bias")
    found = _bias_target(view, index)
    assert found is not None
    node, slot, bias = found
    weight = view.const(view.nodes[index].input[weight_slots(view, index)[0]])
    assert weight is not None
    fan_in = weight.size / max(bias.shape[-1], 1)
    scale = 0.5 * float(weight.std()) * np.sqrt(fan_in)
    shifted = bias.astype(np.float64) + rng.normal(0.0, 1.0, bias.shape) * scale
    set_input(out, node, slot, shifted.astype(bias.dtype))
    return surgery.check(out), Planted("bias_shift", view.label(index), f"bias + N(0, {scale:.3g})")


def gate_swap(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """Two gates of a recurrent layer swapped (LSTM forget/output, GRU update/reset)."""
    out, view = copy_with_view(model)
    candidates = [
        i
        for i in weighted_nodes(view)
        if view.nodes[i].op_type in ("LSTM", "GRU") or view.nodes[i].op_type == "Loop"
    ]
    index = pick(candidates, rng, "recurrent node")
    node = view.nodes[index]
    if node.op_type in ("LSTM", "GRU"):
        gates = 4 if node.op_type == "LSTM" else 3
        a, b = (1, 2) if node.op_type == "LSTM" else (0, 1)
        for slot in (1, 2, 3):
            if len(node.input) <= slot or not node.input[slot]:
                continue
            value = view.const(node.input[slot])
            assert value is not None
            blocks = np.split(value, gates * (2 if slot == 3 else 1), axis=1)
            blocks[a], blocks[b] = blocks[b], blocks[a]
            if slot == 3:  # the recurrent half of the bias too
                blocks[gates + a], blocks[gates + b] = blocks[gates + b], blocks[gates + a]
            set_input(out, node, slot, np.concatenate(blocks, axis=1))
    else:
        found = loop_gru(view, index)
        assert found is not None
        for key in ("kernel", "recurrent_kernel", "bias"):
            name = found[2][key]
            value = view.const(name)
            assert value is not None
            blocks = np.split(value, 3, axis=-1)
            blocks[0], blocks[1] = blocks[1], blocks[0]
            set_input(out, node, list(node.input).index(name), np.concatenate(blocks, axis=-1))
    return surgery.check(out), Planted("gate_swap", view.label(index), "two gate blocks swapped")


def flatten_order(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A dense layer after a flatten reads its inputs in the other layout's order."""
    out, view = copy_with_view(model)
    candidates: list[tuple[int, tuple[int, int, int]]] = []
    for index in weighted_nodes(view):
        node = view.nodes[index]
        if node.op_type not in ("Gemm", "MatMul"):
            continue
        cur = node.input[0]
        while cur in view.producer and view.nodes[view.producer[cur]].op_type in (
            "Flatten",
            "Reshape",
            "Transpose",
            "Identity",
        ):
            cur = view.data_inputs(view.producer[cur])[0]
            shape = view.shape(cur)
            if shape is not None and len(shape) == 4 and all(shape[1:]):
                d = (int(shape[1]), int(shape[2]), int(shape[3]))  # type: ignore[arg-type]
                if min(d) * sorted(d)[1] > 1 and d[0] * d[1] * d[2] > max(d):
                    candidates.append((index, d))
                break
    choice = pick(list(range(len(candidates))), rng, "dense layer after a flatten")
    index, (d1, d2, d3) = candidates[choice]
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    perm = np.arange(d1 * d2 * d3).reshape(d1, d2, d3).transpose(1, 2, 0).reshape(-1)
    in_axis = 1 if node.op_type == "Gemm" and attributes(node).get("transB", 0) else 0
    set_input(out, node, 1, np.take(weight, perm, axis=in_axis))
    return surgery.check(out), Planted("flatten_order", view.label(index), "inputs read HWC as CHW")


def padding_shift(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Symmetric padding p turned into p+1 before and p-1 after (same output size)."""
    out, view = copy_with_view(model)
    candidates = []
    for index, node in enumerate(view.nodes):
        if node.op_type != "Conv":
            continue
        attrs = attributes(node)
        pads = list(attrs.get("pads", []))
        plain = attrs.get("auto_pad", "NOTSET") in ("NOTSET", "")
        if plain and pads and min(pads) >= 1 and len(set(pads)) == 1:
            candidates.append(index)
    index = pick(candidates, rng, "symmetrically padded convolution")
    node = view.nodes[index]
    pads = list(attributes(node)["pads"])
    n = len(pads) // 2
    surgery.set_attribute(node, "pads", [p + 1 for p in pads[:n]] + [p - 1 for p in pads[n:]])
    return surgery.check(out), Planted("padding_shift", view.label(index), "pads p -> (p+1, p-1)")


def _relus(view: GraphView) -> list[int]:
    return [i for i, n in enumerate(view.nodes) if n.op_type == "Relu"]


def activation_swap(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A ReLU turned ELU; in recurrent layers the gate sigmoid turned hard sigmoid."""
    out, view = copy_with_view(model)
    relus = _relus(view)
    if relus:
        index = pick(relus, rng, "ReLU")
        node = view.nodes[index]
        node.op_type = "Elu"
        return surgery.check(out), Planted("activation_swap", view.label(index), "Relu -> Elu")
    recurrent = [i for i, n in enumerate(view.nodes) if n.op_type in ("LSTM", "GRU")]
    loops = [i for i, n in enumerate(view.nodes) if n.op_type == "Loop" and loop_gru(view, i)]
    index = pick(recurrent + loops, rng, "ReLU or recurrent node")
    node = view.nodes[index]
    if node.op_type == "Loop":
        body = attributes(node)["body"]
        for inner in body.node:
            if inner.op_type == "Sigmoid":
                inner.op_type = "HardSigmoid"
        surgery.set_attribute(node, "body", body)
    else:
        acts = list(attributes(node).get("activations", []))
        if not acts:
            acts = ["Sigmoid", "Tanh", "Tanh"] if node.op_type == "LSTM" else ["Sigmoid", "Tanh"]
        acts[0] = "HardSigmoid"
        surgery.set_attribute(node, "activations", acts)
    return surgery.check(out), Planted(
        "activation_swap", view.label(index), "gate Sigmoid -> HardSigmoid"
    )


def dropped_activation(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A ReLU replaced by Identity."""
    out, view = copy_with_view(model)
    index = pick(_relus(view), rng, "ReLU")
    node = view.nodes[index]
    surgery.make_identity(node, node.input[0])
    return surgery.check(out), Planted("dropped_activation", view.label(index), "Relu -> Identity")


def inserted_scale(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A ``Mul`` by 1.5 inserted after a ReLU (after the embedding in text models)."""
    out, view = copy_with_view(model)
    anchors = _relus(view) or [
        i
        for i, n in enumerate(view.nodes)
        if n.op_type == "Gather" and weight_slots(view, i) == [0]
    ]
    index = pick(anchors, rng, "ReLU or embedding")
    tensor = view.nodes[index].output[0]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(view.elem_types.get(tensor, 1))
    scale = surgery.add_initializer(out, "planted_scale", np.asarray(1.5, dtype=dtype))
    new = surgery.insert_after(out, tensor, "Mul", [scale])
    return surgery.check(out), Planted("inserted_scale", new.name, f"Mul(x, 1.5) after {tensor}")


def pool_swap(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A max pool turned average pool (a global average pool turned global max pool)."""
    out, view = copy_with_view(model)
    swaps = {
        "MaxPool": "AveragePool",
        "GlobalAveragePool": "GlobalMaxPool",
        "ReduceMean": "ReduceMax",
    }
    candidates = [i for i, n in enumerate(view.nodes) if n.op_type in swaps]
    index = pick(candidates, rng, "pooling node")
    node = view.nodes[index]
    old = node.op_type
    node.op_type = swaps[old]
    if old == "MaxPool":
        for name in ("storage_order", "dilations"):
            surgery.set_attribute(node, name, None)
    return surgery.check(out), Planted("pool_swap", view.label(index), f"{old} -> {node.op_type}")


def bn_epsilon(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A BatchNormalization epsilon set to Keras' default 1e-3 (PyTorch's is 1e-5)."""
    out, view = copy_with_view(model)
    candidates = [i for i, n in enumerate(view.nodes) if n.op_type == "BatchNormalization"]
    index = pick(candidates, rng, "BatchNormalization node")
    surgery.set_attribute(view.nodes[index], "epsilon", 1e-3)
    return surgery.check(out), Planted("bn_epsilon", view.label(index), "epsilon -> 1e-3")


FAULTS: dict[str, Planter] = {
    "weight_noise": weight_noise,
    "weight_rounding": weight_rounding,
    "bias_shift": bias_shift,
    "flipped_kernel": flipped_kernel,
    "transposed_kernel": transposed_kernel,
    "flatten_order": flatten_order,
    "gate_swap": gate_swap,
    "padding_shift": padding_shift,
    "activation_swap": activation_swap,
    "dropped_activation": dropped_activation,
    "inserted_scale": inserted_scale,
    "pool_swap": pool_swap,
    "bn_epsilon": bn_epsilon,
}
