"""Quantized ONNX graphs in one form: float operators between QuantizeLinear/DequantizeLinear.

Quantization tools write a quantized model in several forms. onnxruntime's
``quantize_static`` writes QDQ (``DequantizeLinear`` of int8 weights and Q/DQ pairs on
activations around float operators) or QOperator (``QLinearConv``, ``QGemm``, ...);
``quantize_dynamic`` writes ``DynamicQuantizeLinear`` + ``ConvInteger``/``MatMulInteger``
and a rescaling ``Mul``; tf2onnx writes a TFLite model's quantized tensors as Q/DQ. The
views of quantized models (:mod:`convstudy.formats.onnx`, :mod:`convstudy.formats.tflite`)
bring every form to QDQ (:func:`to_qdq`), where each float operator is the float layer it
stands for, and give the graph float inputs and outputs (:func:`float_io`): an integer
input is quantized by the file's own scale and zero point, an integer output dequantized.

Only ``onnx`` and ``numpy`` are used here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: QOperator ops of onnxruntime's quantization tools: (float op, index of the float op's
#: data inputs' (x, scale, zero point) triples, index of the output scale and zero point).
_QLINEAR: dict[str, tuple[str, list[int], int | None]] = {
    "QLinearConv": ("Conv", [0, 3], 6),
    "QLinearMatMul": ("MatMul", [0, 3], 6),
    "QGemm": ("Gemm", [0, 3], 7),
    "QLinearAdd": ("Add", [0, 3], 6),
    "QLinearMul": ("Mul", [0, 3], 6),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", [0], 3),
    "QLinearAveragePool": ("AveragePool", [0], 3),
    "QLinearSigmoid": ("Sigmoid", [0], 3),
    "QLinearLeakyRelu": ("LeakyRelu", [0], 3),
}
#: Ops that compute on quantized integers the same as on the floats they stand for
#: (monotone in each element), rewritten around a DequantizeLinear/QuantizeLinear pair so
#: that the float layer appears in the graph.
_MONOTONE = frozenset({"MaxPool", "GlobalMaxPool", "Relu"})
#: Integer ops of ``quantize_dynamic`` and the float op each stands for.
_INTEGER = {"ConvInteger": "Conv", "MatMulInteger": "MatMul"}


@dataclass(frozen=True)
class Quantization:
    """How a graph's integer input or output maps to floats: ``float = (q - zero) * scale``."""

    scale: float
    zero: int
    dtype: np.dtype

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float values on this grid (round half to even, saturated), as QuantizeLinear does."""
        info = np.iinfo(self.dtype)
        q = np.round(np.asarray(x, dtype=np.float64) / self.scale) + self.zero
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """The float values integers ``q`` stand for."""
        return ((np.asarray(q, dtype=np.float64) - self.zero) * self.scale).astype(np.float32)


def _consts(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def is_quantized(model: onnx.ModelProto) -> bool:
    """Whether the graph holds quantized tensors (any form above)."""
    ops = {n.op_type for n in model.graph.node}
    quantizers = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
    return bool(ops & (set(_QLINEAR) | set(_INTEGER) | quantizers))


class _Rewriter:
    """A graph rebuilt node by node (names of the original tensors kept)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = onnx.ModelProto()
        self.model.CopyFrom(model)
        self.graph = self.model.graph
        self.consts = _consts(self.graph)
        self.used = {o for n in self.graph.node for o in n.output} | set(self.consts)
        self.used |= {i.name for i in self.graph.input}
        self.nodes: list[onnx.NodeProto] = []
        self.producers: dict[str, onnx.NodeProto] = {}
        self.skip: set[int] = set()
        self.dequantized: dict[tuple[str, str, str, int | None], str] = {}

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def constant(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        self.consts[name] = np.asarray(value)
        return name

    def add(
        self,
        op: str,
        inputs: list[str],
        output: str | None = None,
        name: str = "",
        **attrs: object,
    ) -> str:
        """Append node ``op`` (named ``name``, else after its output) and return its output."""
        out = output or self.fresh(f"{inputs[0]}_{op}")
        node_name = self.fresh(name or f"{out}_{op}")
        self.nodes.append(helper.make_node(op, inputs, [out], name=node_name, **attrs))  # type: ignore[arg-type]
        return out

    def dequantize(self, x: str, scale: str, zero: str, axis: int | None = None) -> str:
        """The float tensor ``x`` stands for: one DequantizeLinear per quantized tensor,
        whichever ops read it (a residual connection's two readers see one tensor)."""
        key = (x, scale, zero, axis)
        if key not in self.dequantized:
            extra = {} if axis is None else {"axis": axis}
            inputs = [x, scale] + ([zero] if zero else [])
            out = self.fresh(f"{x}_dequantized")
            self.dequantized[key] = self.add("DequantizeLinear", inputs, out, "", **extra)
        return self.dequantized[key]

    def finish(self) -> onnx.ModelProto:
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        return self.model


def _attrs(node: onnx.NodeProto, drop: tuple[str, ...] = ()) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name not in drop}


def _weight_axis(op: str, node: onnx.NodeProto) -> int:
    """The output-channel axis of a QOperator weight (its per-channel scale's axis)."""
    if op == "Gemm":
        return 0 if _attrs(node).get("transB", 0) else 1
    return 1 if op == "MatMul" else 0


def _qlinear(r: _Rewriter, node: onnx.NodeProto) -> None:
    op, triples, out_at = _QLINEAR[node.op_type]
    inputs = list(node.input)
    floats = []
    for at in triples:
        x, scale, zero = inputs[at], inputs[at + 1], inputs[at + 2] if at + 2 < len(inputs) else ""
        axis = _weight_axis(op, node) if at == 3 and x in r.consts else None
        floats.append(r.dequantize(x, scale, zero, axis))
    bias_at = {"QLinearConv": 8, "QGemm": 6}.get(node.op_type)
    if bias_at is not None and bias_at < len(inputs) and inputs[bias_at]:
        # int32 bias on the grid of input scale x weight scale, zero point 0
        x_scale = r.consts[inputs[1]].astype(np.float32)
        w_scale = r.consts[inputs[4]].astype(np.float32).reshape(-1)
        grid = r.constant(f"{inputs[bias_at]}_scale", (x_scale * w_scale).astype(np.float32))
        floats.append(r.dequantize(inputs[bias_at], grid, "", 0 if w_scale.size > 1 else None))
    drop = ("channels_last",) if node.op_type != "QGemm" else ()
    attrs = _attrs(node, drop)
    if node.op_type == "QLinearLeakyRelu":
        attrs = {"alpha": attrs.get("alpha", 0.01)}
    has_out = out_at is not None and out_at < len(inputs) and inputs[out_at]
    y = r.add(op, floats, None if has_out else node.output[0], node.name, **attrs)
    if has_out:
        assert out_at is not None
        zero = inputs[out_at + 1] if out_at + 1 < len(inputs) else ""
        r.add("QuantizeLinear", [y, inputs[out_at]] + ([zero] if zero else []), node.output[0])


def _monotone(r: _Rewriter, node: onnx.NodeProto, quantization: tuple[str, str]) -> None:
    scale, zero = quantization
    x = r.dequantize(node.input[0], scale, zero)
    y = r.add(node.op_type, [x, *node.input[1:]], None, node.name, **_attrs(node))
    r.add("QuantizeLinear", [y, scale] + ([zero] if zero else []), node.output[0])


def _grids(model: onnx.ModelProto) -> dict[str, tuple[str, str]]:
    """Integer activations whose (scale, zero point) names the graph states: inputs of a
    DequantizeLinear, outputs of a QuantizeLinear or a QOperator op, carried on through
    integer Reshape/Transpose/MaxPool nodes."""
    grids: dict[str, tuple[str, str]] = {}
    for node in model.graph.node:
        ins = list(node.input)
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(ins) >= 2:
            tensor = node.output[0] if node.op_type == "QuantizeLinear" else ins[0]
            grids.setdefault(tensor, (ins[1], ins[2] if len(ins) > 2 else ""))
        elif node.op_type in _QLINEAR:
            _, triples, out_at = _QLINEAR[node.op_type]
            for at in triples:
                grids.setdefault(ins[at], (ins[at + 1], ins[at + 2] if at + 2 < len(ins) else ""))
            if out_at is not None and out_at < len(ins) and ins[out_at]:
                zero = ins[out_at + 1] if out_at + 1 < len(ins) else ""
                grids.setdefault(node.output[0], (ins[out_at], zero))
    for _ in range(len(model.graph.node)):  # carry through integer connectors, both ways
        grown = False
        for node in model.graph.node:
            if node.op_type in _MONOTONE | {"Reshape", "Transpose", "Squeeze", "Unsqueeze"}:
                a, b = node.input[0], node.output[0]
                for src, dst in ((a, b), (b, a)):
                    if src in grids and dst not in grids:
                        grids[dst] = grids[src]
                        grown = True
        if not grown:
            break
    return grids


def _integer_op(r: _Rewriter, node: onnx.NodeProto, consumers: dict[str, list]) -> bool:
    """``ConvInteger``/``MatMulInteger`` + Cast + Mul(input scale x weight scale) as the
    float op on dequantized operands; False where the pattern is not this one."""
    cast = consumers.get(node.output[0], [])
    if len(cast) != 1 or cast[0].op_type != "Cast":
        return False
    mul = consumers.get(cast[0].output[0], [])
    if len(mul) != 1 or mul[0].op_type != "Mul":
        return False
    scales = next((i for i in mul[0].input if i != cast[0].output[0]), "")
    product = r.producers.get(scales)
    if product is None or product.op_type != "Mul":
        return False
    weight = node.input[1]
    w_scale = next((i for i in product.input if i in r.consts), None)
    x_scale = next((i for i in product.input if i != w_scale), None)
    if w_scale is None or x_scale is None or weight not in r.consts:
        return False
    x_zero = node.input[2] if len(node.input) > 2 else ""
    w_zero = node.input[3] if len(node.input) > 3 else ""
    op = _INTEGER[node.op_type]
    per_channel = r.consts[w_scale].size > 1
    axis = (0 if op == "Conv" else 1) if per_channel else None
    x = r.dequantize(node.input[0], x_scale, x_zero)
    w = r.dequantize(weight, w_scale, w_zero, axis)
    r.add(op, [x, w], mul[0].output[0], node.name, **_attrs(node))
    r.skip.update({id(cast[0]), id(mul[0])})
    return True


def _constant_dynamic(r: _Rewriter, node: onnx.NodeProto, consumers: dict[str, list]) -> bool:
    """DynamicQuantizeLinear of a constant read back only by DequantizeLinear (tf2onnx
    writes one for the float bias of a dynamic-range TFLite model's hybrid op, which the
    interpreter keeps in float): the constant itself; False for any other use."""
    readers = consumers.get(node.output[0], [])
    if not readers or any(n.op_type != "DequantizeLinear" for n in readers):
        return False
    for reader in readers:
        r.skip.add(id(reader))
        r.add("Identity", [node.input[0]], reader.output[0], reader.name)
    return True


def to_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every QOperator and integer op rewritten to float ops between
    DequantizeLinear and QuantizeLinear (the same values: ops on dequantized operands,
    requantized with the op's own output scale and zero point)."""
    r = _Rewriter(model)
    grids = _grids(model)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in r.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    r.producers = {o: n for n in r.graph.node for o in n.output}
    r.skip = set()
    types = _elem_types(model)
    for node in r.graph.node:
        if id(node) in r.skip:
            continue
        if node.op_type in _QLINEAR and node.domain in ("", "ai.onnx", "com.microsoft"):
            _qlinear(r, node)
        elif node.op_type in _INTEGER and _integer_op(r, node, consumers):
            continue
        elif node.op_type == "DynamicQuantizeLinear" and node.input[0] in r.consts:
            if not _constant_dynamic(r, node, consumers):
                r.nodes.append(node)
        elif (
            node.op_type in _MONOTONE
            and node.input[0] in grids
            and types.get(node.input[0]) not in (None, onnx.TensorProto.FLOAT)
        ):
            _monotone(r, node, grids[node.input[0]])
        else:
            r.nodes.append(node)
    rewritten = r.finish()
    _drop_unused(rewritten)
    ms = [o for o in rewritten.opset_import if o.domain == "com.microsoft"]
    if ms and not any(n.domain == "com.microsoft" for n in rewritten.graph.node):
        rewritten.opset_import.remove(ms[0])
    return rewritten


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - types are a hint here
        inferred = model
    graph = inferred.graph
    types = {t.name: t.data_type for t in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        types[info.name] = info.type.tensor_type.elem_type
    return types


def _drop_unused(model: onnx.ModelProto) -> None:
    """Remove nodes and initializers nothing reads any more (the rescaling Mul of scales)."""
    graph = model.graph
    while True:
        read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in read for o in n.output if o)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    read = {i for n in graph.node for i in n.input}
    for init in [t for t in graph.initializer if t.name not in read]:
        graph.initializer.remove(init)


def input_quantization(model: onnx.ModelProto) -> dict[str, Quantization]:
    """The grid of each integer graph input a DequantizeLinear reads (through integer
    connectors), from the file's own scale and zero point."""
    return _io_quantization(model, [i.name for i in model.graph.input])


def output_quantization(model: onnx.ModelProto) -> dict[str, Quantization]:
    """The grid of each integer graph output a QuantizeLinear writes."""
    return _io_quantization(model, [o.name for o in model.graph.output])


def _io_quantization(model: onnx.ModelProto, names: list[str]) -> dict[str, Quantization]:
    consts = _consts(model.graph)
    types = _elem_types(model)
    grids = _grids(model)
    found: dict[str, Quantization] = {}
    for name in names:
        elem = types.get(name)
        if name in consts or elem in (None, 0, onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            continue
        if elem == onnx.TensorProto.FLOAT16 or name not in grids:
            continue
        scale_name, zero_name = grids[name]
        scale = consts.get(scale_name)
        zero = consts.get(zero_name) if zero_name else np.zeros((), np.uint8)
        if scale is None or zero is None or scale.size != 1:
            continue
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
        found[name] = Quantization(float(scale.reshape(-1)[0]), int(zero.reshape(-1)[0]), dtype)
    return found


def float_io(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with float inputs and outputs: an integer input quantized by the graph's
    own grid (a QuantizeLinear in front), an integer output dequantized (a DequantizeLinear
    after). Inputs and outputs keep their names."""
    ins, outs = input_quantization(model), output_quantization(model)
    if not ins and not outs:
        return model
    r = _Rewriter(model)
    graph = r.graph
    for info in graph.input:
        if info.name in ins:
            q = ins[info.name]
            inner = r.fresh(f"{info.name}_quantized")
            _rename_reads(graph, info.name, inner)
            scale = r.constant(f"{info.name}_scale", np.asarray(q.scale, dtype=np.float32))
            zero = r.constant(f"{info.name}_zero_point", np.asarray(q.zero, dtype=q.dtype))
            r.add("QuantizeLinear", [info.name, scale, zero], inner)
            info.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    r.nodes.extend(graph.node)
    for info in graph.output:
        if info.name in outs:
            q = outs[info.name]
            inner = r.fresh(f"{info.name}_quantized")
            for node in r.nodes:
                for k, out in enumerate(node.output):
                    if out == info.name:
                        node.output[k] = inner
            _rename_reads(graph, info.name, inner)
            scale = r.constant(f"{info.name}_scale", np.asarray(q.scale, dtype=np.float32))
            zero = r.constant(f"{info.name}_zero_point", np.asarray(q.zero, dtype=q.dtype))
            r.add("DequantizeLinear", [inner, scale, zero], info.name)
            info.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return r.finish()


def _rename_reads(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == old:
                node.input[k] = new


def own_float_io(
    model: onnx.ModelProto, predict: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` (a runtime of the integer-I/O ``model``) with float inputs and outputs,
    quantized and dequantized with the file's own grids, as :func:`float_io`'s graph is."""
    ins, outs = input_quantization(model), output_quantization(model)
    first_in = model.graph.input[0].name if model.graph.input else ""
    first_out = model.graph.output[0].name if model.graph.output else ""
    q_in, q_out = ins.get(first_in), outs.get(first_out)

    def run(x: np.ndarray) -> np.ndarray:
        y = predict(x if q_in is None else q_in.quantize(x))
        return y if q_out is None else q_out.dequantize(y)

    return run
