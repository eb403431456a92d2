"""Planting one known fault into a faithful ONNX model, and equivalent rewrites (controls).

Every fault is a bug a converter could plausibly introduce: perturbed or coarsely rounded
weights, a shifted bias, a flipped or transposed kernel, a wrong flatten order, LSTM/GRU
gates in the wrong order, a changed padding, a swapped activation, a dropped activation,
an inserted scaling node, a max pool turned average pool, a BatchNorm epsilon changed to
Keras' default. Each returns the faulty model and the name of the node it changed (the
node a localization must name, or whose layer it must name).

Controls rewrite a model into an equivalent one (an inserted Identity or Transpose pair,
renamed nodes, BatchNorm or a scale folded into the convolution by hand, Gemm written as
MatMul + Add or the reverse, a convolution's padding moved into a Pad node, another
opset); a localization must find nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from convstudy.localization.graph.canonical import loop_gru
from convstudy.localization.graph.onnx_graph import GraphView, attributes
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


def _pick(candidates: list[int], rng: np.random.Generator, what: str) -> int:
    if not candidates:
        raise NotApplicable(f"no {what}")
    return int(candidates[int(rng.integers(len(candidates)))])


def _weight_slots(view: GraphView, index: int) -> list[int]:
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


def _param_nodes(view: GraphView) -> list[int]:
    return [i for i in range(len(view.nodes)) if _weight_slots(view, i)]


def _set_input(model: onnx.ModelProto, node: onnx.NodeProto, slot: int, value: np.ndarray) -> None:
    """Feed ``value`` into ``node``'s input ``slot`` as a fresh initializer (shared
    initializers elsewhere stay untouched)."""
    base = f"{node.name or node.op_type}_planted_{slot}"
    name = surgery.add_initializer(model, base, value)
    while len(node.input) <= slot:
        node.input.append("")
    node.input[slot] = name


def _with(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphView]:
    out = surgery.copy_model(model)
    return out, GraphView(out)


def _map_weights(
    model: onnx.ModelProto,
    rng: np.random.Generator,
    kind: str,
    ops: tuple[str, ...] | None,
    change: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    description: str,
) -> tuple[onnx.ModelProto, Planted]:
    out, view = _with(model)
    candidates = [i for i in _param_nodes(view) if ops is None or view.nodes[i].op_type in ops]
    index = _pick(candidates, rng, "weighted node")
    node = view.nodes[index]
    for slot in _weight_slots(view, index)[:1]:
        weight = view.const(node.input[slot])
        assert weight is not None
        changed = change(weight.astype(np.float64), rng).astype(weight.dtype)
        _set_input(out, node, slot, changed)
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
    out, view = _with(model)
    candidates = [
        i
        for i in _param_nodes(view)
        if view.nodes[i].op_type == "Conv"
        and (w := view.const(view.nodes[i].input[1])) is not None
        and w.ndim == 4
        and w.shape[2] * w.shape[3] > 1
    ]
    index = _pick(candidates, rng, "convolution kernel larger than 1 x 1")
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    _set_input(out, node, 1, np.ascontiguousarray(weight[:, :, ::-1, ::-1]))
    return surgery.check(out), Planted(
        "flipped_kernel", view.label(index), "kernel[:, :, ::-1, ::-1]"
    )


def transposed_kernel(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A square convolution kernel with its spatial axes swapped (HW vs WH)."""
    out, view = _with(model)
    candidates = [
        i
        for i in _param_nodes(view)
        if view.nodes[i].op_type == "Conv"
        and (w := view.const(view.nodes[i].input[1])) is not None
        and w.ndim == 4
        and w.shape[2] == w.shape[3] > 1
    ]
    index = _pick(candidates, rng, "square convolution kernel")
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    _set_input(out, node, 1, np.ascontiguousarray(weight.transpose(0, 1, 3, 2)))
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
    out, view = _with(model)
    candidates = [i for i in _param_nodes(view) if _bias_target(view, i) is not None]
    index = _pick(candidates, rng, "node with a bias")
    found = _bias_target(view, index)
    assert found is not None
    node, slot, bias = found
    weight = view.const(view.nodes[index].input[_weight_slots(view, index)[0]])
    assert weight is not None
    fan_in = weight.size / max(bias.shape[-1], 1)
    scale = 0.5 * float(weight.std()) * np.sqrt(fan_in)
    shifted = bias.astype(np.float64) + rng.normal(0.0, 1.0, bias.shape) * scale
    _set_input(out, node, slot, shifted.astype(bias.dtype))
    return surgery.check(out), Planted("bias_shift", view.label(index), f"bias + N(0, {scale:.3g})")


def gate_swap(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """Two gates of a recurrent layer swapped (LSTM forget/output, GRU update/reset)."""
    out, view = _with(model)
    candidates = [
        i
        for i in _param_nodes(view)
        if view.nodes[i].op_type in ("LSTM", "GRU") or view.nodes[i].op_type == "Loop"
    ]
    index = _pick(candidates, rng, "recurrent node")
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
            _set_input(out, node, slot, np.concatenate(blocks, axis=1))
    else:
        found = loop_gru(view, index)
        assert found is not None
        for key in ("kernel", "recurrent_kernel", "bias"):
            name = found[2][key]
            value = view.const(name)
            assert value is not None
            blocks = np.split(value, 3, axis=-1)
            blocks[0], blocks[1] = blocks[1], blocks[0]
            _set_input(out, node, list(node.input).index(name), np.concatenate(blocks, axis=-1))
    return surgery.check(out), Planted("gate_swap", view.label(index), "two gate blocks swapped")


def flatten_order(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A dense layer after a flatten reads its inputs in the other layout's order."""
    out, view = _with(model)
    candidates: list[tuple[int, tuple[int, int, int]]] = []
    for index in _param_nodes(view):
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
    choice = _pick(list(range(len(candidates))), rng, "dense layer after a flatten")
    index, (d1, d2, d3) = candidates[choice]
    node = view.nodes[index]
    weight = view.const(node.input[1])
    assert weight is not None
    perm = np.arange(d1 * d2 * d3).reshape(d1, d2, d3).transpose(1, 2, 0).reshape(-1)
    in_axis = 1 if node.op_type == "Gemm" and attributes(node).get("transB", 0) else 0
    _set_input(out, node, 1, np.take(weight, perm, axis=in_axis))
    return surgery.check(out), Planted("flatten_order", view.label(index), "inputs read HWC as CHW")


def padding_shift(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Symmetric padding p turned into p+1 before and p-1 after (same output size)."""
    out, view = _with(model)
    candidates = []
    for index, node in enumerate(view.nodes):
        if node.op_type != "Conv":
            continue
        attrs = attributes(node)
        pads = list(attrs.get("pads", []))
        plain = attrs.get("auto_pad", "NOTSET") in ("NOTSET", "")
        if plain and pads and min(pads) >= 1 and len(set(pads)) == 1:
            candidates.append(index)
    index = _pick(candidates, rng, "symmetrically padded convolution")
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
    out, view = _with(model)
    relus = _relus(view)
    if relus:
        index = _pick(relus, rng, "ReLU")
        node = view.nodes[index]
        node.op_type = "Elu"
        return surgery.check(out), Planted("activation_swap", view.label(index), "Relu -> Elu")
    recurrent = [i for i, n in enumerate(view.nodes) if n.op_type in ("LSTM", "GRU")]
    loops = [i for i, n in enumerate(view.nodes) if n.op_type == "Loop" and loop_gru(view, i)]
    index = _pick(recurrent + loops, rng, "ReLU or recurrent node")
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
    out, view = _with(model)
    index = _pick(_relus(view), rng, "ReLU")
    node = view.nodes[index]
    surgery.make_identity(node, node.input[0])
    return surgery.check(out), Planted("dropped_activation", view.label(index), "Relu -> Identity")


def inserted_scale(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A ``Mul`` by 1.5 inserted after a ReLU (after the embedding in text models)."""
    out, view = _with(model)
    anchors = _relus(view) or [
        i
        for i, n in enumerate(view.nodes)
        if n.op_type == "Gather" and _weight_slots(view, i) == [0]
    ]
    index = _pick(anchors, rng, "ReLU or embedding")
    tensor = view.nodes[index].output[0]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(view.elem_types.get(tensor, 1))
    scale = surgery.add_initializer(out, "planted_scale", np.asarray(1.5, dtype=dtype))
    new = surgery.insert_after(out, tensor, "Mul", [scale])
    return surgery.check(out), Planted("inserted_scale", new.name, f"Mul(x, 1.5) after {tensor}")


def pool_swap(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A max pool turned average pool (a global average pool turned global max pool)."""
    out, view = _with(model)
    swaps = {
        "MaxPool": "AveragePool",
        "GlobalAveragePool": "GlobalMaxPool",
        "ReduceMean": "ReduceMax",
    }
    candidates = [i for i, n in enumerate(view.nodes) if n.op_type in swaps]
    index = _pick(candidates, rng, "pooling node")
    node = view.nodes[index]
    old = node.op_type
    node.op_type = swaps[old]
    if old == "MaxPool":
        for name in ("storage_order", "dilations"):
            surgery.set_attribute(node, name, None)
    return surgery.check(out), Planted("pool_swap", view.label(index), f"{old} -> {node.op_type}")


def bn_epsilon(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A BatchNormalization epsilon set to Keras' default 1e-3 (PyTorch's is 1e-5)."""
    out, view = _with(model)
    candidates = [i for i, n in enumerate(view.nodes) if n.op_type == "BatchNormalization"]
    index = _pick(candidates, rng, "BatchNormalization node")
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


# -- controls: equivalent rewrites -------------------------------------------------------
def _middle_data_tensor(view: GraphView, rng: np.random.Generator, rank: int | None = None) -> str:
    names = [
        o
        for n in view.nodes
        for o in n.output
        if o in view.data
        and o not in view.outputs
        and (rank is None or (view.shape(o) is not None and len(view.shape(o)) >= rank))  # type: ignore[arg-type]
    ]
    if not names:
        raise NotApplicable("no intermediate data tensor")
    return names[int(rng.integers(len(names)))]


def identity_inserted(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """An Identity node inserted after an intermediate tensor."""
    out, view = _with(model)
    tensor = _middle_data_tensor(view, rng)
    new = surgery.insert_after(out, tensor, "Identity", [])
    return surgery.check(out), Planted("identity_inserted", new.name, f"Identity after {tensor}")


def transpose_pair(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """A Transpose and its inverse inserted after a rank >= 3 tensor."""
    out, view = _with(model)
    tensor = _middle_data_tensor(view, rng, rank=3)
    shape = view.shape(tensor)
    assert shape is not None
    perm = [0, *range(2, len(shape)), 1]
    inverse = [int(i) for i in np.argsort(perm)]
    first = surgery.insert_after(out, tensor, "Transpose", [], perm=perm)
    surgery.insert_after(out, tensor, "Transpose", [], perm=inverse)
    return surgery.check(out), Planted(
        "transpose_pair", first.name, f"Transpose pair after {tensor}"
    )


def renamed(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """Every node and intermediate tensor renamed."""
    out = surgery.copy_model(model)
    graph = out.graph
    keep = {i.name for i in graph.input} | {o.name for o in graph.output}
    keep |= {t.name for t in graph.initializer}
    mapping: dict[str, str] = {}
    for k, node in enumerate(graph.node):
        node.name = f"n{k}_{rng.integers(1 << 20)}"
        for j, name in enumerate(node.output):
            if name and name not in keep:
                mapping[name] = f"t{k}_{j}"
                node.output[j] = mapping[name]
    _rename_reads(graph, mapping)
    del graph.value_info[:]
    return surgery.check(out), Planted("renamed", "", "all nodes and tensors renamed")


def _rename_reads(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Apply ``mapping`` to every read in ``graph``, outer-scope reads of subgraphs too."""
    local = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    for node in graph.node:
        for j, name in enumerate(node.input):
            node.input[j] = mapping.get(name, name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                inner = {k: v for k, v in mapping.items() if k not in _defined(attr.g)}
                _rename_reads(attr.g, inner)
    del local


def _defined(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    return names | {o for n in graph.node for o in n.output}


def folded_affine(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Every BatchNormalization (or per-channel Mul) right after a Conv folded into the
    Conv's weights and bias by hand, and removed."""
    out, view = _with(model)
    folded = 0
    for index, node in enumerate(view.nodes):
        if node.op_type != "Conv" or not view.is_const(node.input[1]):
            continue
        readers = view.data_consumers(node.output[0])
        if len(readers) != 1:
            continue
        nxt = view.nodes[readers[0]]
        weight = view.const(node.input[1]).astype(np.float64)  # type: ignore[union-attr]
        out_ch = weight.shape[0]
        bias_value = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        bias = np.zeros(out_ch) if bias_value is None else bias_value.astype(np.float64)
        if nxt.op_type == "BatchNormalization" and not attributes(nxt).get("training_mode", 0):
            gamma, beta, mean, var = (view.const(i) for i in nxt.input[1:5])
            if any(v is None for v in (gamma, beta, mean, var)):
                continue
            eps = float(attributes(nxt).get("epsilon", 1e-5))
            scale = gamma / np.sqrt(var.astype(np.float64) + eps)  # type: ignore[union-attr, operator]
            shift = beta - mean * scale  # type: ignore[operator]
        elif nxt.op_type == "Mul":
            other = nxt.input[1] if nxt.input[0] == node.output[0] else nxt.input[0]
            value = view.const(other)
            if value is None or value.size not in (1, out_ch):
                continue
            if value.size == out_ch and value.ndim >= 3 and value.shape[-3] != out_ch:
                continue
            scale = np.broadcast_to(value.reshape(-1).astype(np.float64), (out_ch,))
            shift = np.zeros(out_ch)
        else:
            continue
        dtype = view.const(node.input[1]).dtype  # type: ignore[union-attr]
        _set_input(out, node, 1, (weight * scale.reshape(-1, 1, 1, 1)).astype(dtype))
        _set_input(out, node, 2, (bias * scale + shift).astype(dtype))
        surgery.make_identity(nxt, node.output[0])
        folded += 1
    if not folded:
        raise NotApplicable("no BatchNormalization or Mul after a Conv")
    surgery.remove_unused_initializers(out)
    return surgery.check(out), Planted("folded_affine", "", f"{folded} affine nodes folded")


def gemm_rewrite(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """Gemm written as MatMul + Add, or MatMul + Add as Gemm."""
    out, view = _with(model)
    for index, node in enumerate(view.nodes):
        attrs = attributes(node)
        if node.op_type == "Gemm" and not attrs.get("transA", 0) and view.is_const(node.input[1]):
            b = view.const(node.input[1])
            assert b is not None
            weight = b.T if attrs.get("transB", 0) else b
            weight = weight * np.asarray(attrs.get("alpha", 1.0), dtype=b.dtype)
            data = node.input[0]
            bias = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            result = node.output[0]
            w_name = surgery.add_initializer(out, "rewritten_weight", np.ascontiguousarray(weight))
            node.op_type = "MatMul"
            del node.attribute[:]
            del node.input[:]
            node.input.extend([data, w_name])
            if bias is not None:
                scaled = bias * np.asarray(attrs.get("beta", 1.0), dtype=bias.dtype)
                b_name = surgery.add_initializer(out, "rewritten_bias", scaled)
                surgery.insert_after(out, result, "Add", [b_name])
            surgery.remove_unused_initializers(out)
            return surgery.check(out), Planted("gemm_rewrite", "", "Gemm -> MatMul + Add")
        if node.op_type == "MatMul" and _weight_slots(view, index) == [1]:
            readers = view.data_consumers(node.output[0])
            if len(readers) != 1 or view.nodes[readers[0]].op_type != "Add":
                continue
            add = view.nodes[readers[0]]
            other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
            bias = view.const(other)
            shape = view.shape(node.input[0])
            if bias is None or shape is None or len(shape) != 2:
                continue
            node.op_type = "Gemm"
            node.input.append(surgery.add_initializer(out, "rewritten_bias", bias.reshape(-1)))
            surgery.make_identity(add, node.output[0])
            surgery.remove_unused_initializers(out)
            return surgery.check(out), Planted("gemm_rewrite", "", "MatMul + Add -> Gemm")
    raise NotApplicable("no Gemm or MatMul + Add")


def pad_split(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[onnx.ModelProto, Planted]:
    """A convolution's padding moved into a separate zero ``Pad`` node."""
    out, view = _with(model)
    candidates = [
        i
        for i, n in enumerate(view.nodes)
        if n.op_type == "Conv" and any(attributes(n).get("pads", [0]))
    ]
    index = _pick(candidates, rng, "padded convolution")
    node = view.nodes[index]
    pads = list(attributes(node)["pads"])
    n = len(pads) // 2
    full = [0, 0, *pads[:n], 0, 0, *pads[n:]]
    pads_name = surgery.add_initializer(out, "split_pads", np.asarray(full, dtype=np.int64))
    surgery.set_attribute(node, "pads", [0] * len(pads))
    data = node.input[0]
    padded = surgery.unique_name(out, f"{data}__padded")
    pad = onnx.helper.make_node(
        "Pad", [data, pads_name], [padded], name=surgery.unique_name(out, "Pad")
    )
    node.input[0] = padded
    position = list(out.graph.node).index(node)
    out.graph.node.insert(position, pad)
    return surgery.check(out), Planted("pad_split", pad.name, "conv pads -> Pad node")


#: The opset :func:`opset_change` converts to (onnxruntime 1.31 runs it).
NEW_OPSET = 21


def opset_change(
    model: onnx.ModelProto, rng: np.random.Generator
) -> tuple[onnx.ModelProto, Planted]:
    """The model converted to another opset by onnx's version converter."""
    from onnx import version_converter

    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) == NEW_OPSET:
        raise NotApplicable(f"already opset {NEW_OPSET}")
    out = version_converter.convert_version(model, NEW_OPSET)
    return surgery.check(out), Planted("opset_change", "-", f"opset -> {NEW_OPSET}")


CONTROLS: dict[str, Planter] = {
    "identity_inserted": identity_inserted,
    "transpose_pair": transpose_pair,
    "renamed": renamed,
    "folded_affine": folded_affine,
    "gemm_rewrite": gemm_rewrite,
    "pad_split": pad_split,
    "opset_change": opset_change,
}
