"""Parameters and hyperparameters of one core operator, in a converter-neutral form.

Canonical forms (float64; all converters are brought to these):

- convolution: ``weight`` (O, I/groups, *kernel), ``bias`` (O,); effective padding
  (a preceding ``Pad`` added in), resolved ``auto_pad``.
- dense (``Gemm`` or ``MatMul`` + ``Add``): ``weight`` (out, in) with the input features
  in the native order of the tensor that was flattened (NCHW), ``bias`` (out,);
  Gemm's ``alpha``/``beta``/``transB`` are applied.
- embedding (``Gather`` on a constant table): ``weight`` (vocabulary, features).
- recurrent: ONNX gate order (LSTM i,o,f,c; GRU z,r,h): ``weight`` (D, G*H, I),
  ``recurrence`` (D, G*H, H), ``bias`` with the input and recurrent biases summed where
  only their sum matters (LSTM; GRU's z and r gates, and its h gate unless
  ``linear_before_reset``), ``recurrence_bias_h`` (D, H) for GRU.

Each function also returns a *binding*: where each canonical tensor lives in the graph,
which the repair writes back through.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convstudy.localization.graph.onnx_graph import GraphView, attributes

Canonical = tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]

_RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
#: Activations ONNX's recurrent operators accept, as they appear in a loop body.
_GATE_ACTIVATIONS = frozenset(
    {"Sigmoid", "HardSigmoid", "Tanh", "Relu", "LeakyRelu", "Elu", "Softsign", "Softplus"}
)
_RECURRENT_ACTIVATIONS = {
    "LSTM": ["Sigmoid", "Tanh", "Tanh"],
    "GRU": ["Sigmoid", "Tanh"],
    "RNN": ["Tanh"],
}


def _f64(value: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _ints(value: Any, default: list[int]) -> list[int]:
    return [int(v) for v in value] if value is not None else list(default)


def resolve_pads(
    attrs: dict[str, Any], kernel: list[int], in_spatial: tuple[int | None, ...] | None
) -> list[int] | str:
    """Explicit pads (begins then ends) from ``pads``/``auto_pad``; the auto_pad string
    when it depends on an unknown input size."""
    n = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto in ("NOTSET", ""):
        return _ints(attrs.get("pads"), [0] * (2 * n))
    if auto == "VALID":
        return [0] * (2 * n)
    strides = _ints(attrs.get("strides"), [1] * n)
    dilations = _ints(attrs.get("dilations"), [1] * n)
    if in_spatial is None or len(in_spatial) != n or any(d is None for d in in_spatial):
        return str(auto)
    begins, ends = [], []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations, strict=True):
        assert size is not None
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if auto == "SAME_UPPER" else large)
        ends.append(large if auto == "SAME_UPPER" else small)
    return begins + ends


def _spatial(view: GraphView, name: str, n: int) -> tuple[int | None, ...] | None:
    shape = view.shape(name)
    return None if shape is None or len(shape) != n + 2 else shape[2:]


def conv(view: GraphView, index: int, pre_pads: list[int] | None) -> Canonical:
    """Conv / FusedConv / ConvTranspose."""
    node = view.nodes[index]
    attrs = attributes(node)
    weight = view.const(node.input[1]) if len(node.input) > 1 else None
    params: dict[str, np.ndarray] = {}
    if weight is not None:
        params["weight"] = _f64(weight)
        out_axis = 1 if node.op_type == "ConvTranspose" else 0
        channels = weight.shape[out_axis] * (
            int(attrs.get("group", 1)) if node.op_type == "ConvTranspose" else 1
        )
        bias = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        params["bias"] = _f64(bias) if bias is not None else np.zeros(channels)
    kernel = _ints(attrs.get("kernel_shape"), list(weight.shape[2:]) if weight is not None else [])
    n = len(kernel)
    pads = resolve_pads(attrs, kernel, _spatial(view, node.input[0], n))
    if pre_pads is not None and isinstance(pads, list):
        pads = [a + b for a, b in zip(pads, pre_pads, strict=True)]
    hyper: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": _ints(attrs.get("strides"), [1] * n),
        "dilations": _ints(attrs.get("dilations"), [1] * n),
        "group": int(attrs.get("group", 1)),
        "pads": pads,
    }
    if node.op_type == "ConvTranspose":
        hyper["output_padding"] = _ints(attrs.get("output_padding"), [0] * n)
    binding = {"weight": node.input[1] if len(node.input) > 1 else "", "bias_slot": 2}
    return params, hyper, binding


def dense(view: GraphView, index: int, order: np.ndarray | None) -> Canonical | None:
    """Gemm, or MatMul with a constant right operand; None if neither fits."""
    node = view.nodes[index]
    attrs = attributes(node)
    if node.op_type == "Gemm":
        b = view.const(node.input[1])
        if b is None or attrs.get("transA", 0) or view.const(node.input[0]) is not None:
            return None
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        trans_b = int(attrs.get("transB", 0))
        weight = alpha * (_f64(b) if trans_b else _f64(b).T)
        c = view.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        bias = (
            np.zeros(weight.shape[0])
            if c is None
            else beta
            * np.broadcast_to(
                _f64(c).reshape(-1) if _f64(c).size > 1 else _f64(c).reshape(1), (weight.shape[0],)
            )
        )
        binding = {"weight": node.input[1], "trans_b": trans_b, "alpha": alpha, "beta": beta}
    else:
        b = view.const(node.input[1])
        if b is None or b.ndim != 2 or view.const(node.input[0]) is not None:
            return None
        weight = _f64(b).T
        bias = np.zeros(weight.shape[0])
        binding = {"weight": node.input[1], "trans_b": 0, "alpha": 1.0, "beta": 1.0}
    if order is not None and len(order) == weight.shape[1]:
        canonical = np.empty_like(weight)
        canonical[:, order] = weight
        weight = canonical
        binding["order"] = order
    params = {"weight": weight, "bias": np.array(bias, dtype=np.float64)}
    hyper = {"units": int(weight.shape[0])}
    return params, hyper, binding


def embedding(view: GraphView, index: int) -> Canonical:
    """Gather on a constant table (axis 0)."""
    node = view.nodes[index]
    table = view.const(node.input[0])
    assert table is not None
    return (
        {"weight": _f64(table)},
        {"axis": int(attributes(node).get("axis", 0))},
        {"weight": node.input[0]},
    )


def _recurrent_bias(
    op: str, w_b: np.ndarray, r_b: np.ndarray, hidden: int, linear_before_reset: int
) -> dict[str, np.ndarray]:
    if op != "GRU":
        return {"bias": w_b + r_b}
    merged = w_b + r_b
    if linear_before_reset:
        bias = np.concatenate([merged[:, : 2 * hidden], w_b[:, 2 * hidden :]], axis=1)
        return {"bias": bias, "recurrence_bias_h": r_b[:, 2 * hidden :].copy()}
    return {"bias": merged, "recurrence_bias_h": np.zeros_like(merged[:, :hidden])}


def recurrent(view: GraphView, index: int) -> Canonical | None:
    """LSTM, GRU or RNN node with constant weights."""
    node = view.nodes[index]
    op = node.op_type
    attrs = attributes(node)
    w, r = view.const(node.input[1]), view.const(node.input[2])
    if w is None or r is None:
        return None
    gates = _RECURRENT_GATES[op]
    hidden = int(attrs.get("hidden_size") or r.shape[-1])
    dirs = w.shape[0]
    b = view.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    b = np.zeros((dirs, 2 * gates * hidden)) if b is None else _f64(b)
    lbr = int(attrs.get("linear_before_reset", 0))
    params = {"weight": _f64(w), "recurrence": _f64(r)}
    params.update(_recurrent_bias(op, b[:, : gates * hidden], b[:, gates * hidden :], hidden, lbr))
    if op == "LSTM" and len(node.input) > 7 and node.input[7]:
        peep = view.const(node.input[7])
        if peep is not None:
            params["peephole"] = _f64(peep)
    default_acts = _RECURRENT_ACTIVATIONS[op] * (2 if dirs == 2 else 1)
    hyper: dict[str, Any] = {
        "cell": op,
        "hidden_size": hidden,
        "direction": attrs.get("direction", "forward"),
        "activations": list(attrs.get("activations", default_acts)),
        "clip": attrs.get("clip"),
        "layout": int(attrs.get("layout", 0)),
    }
    if op == "GRU":
        hyper["linear_before_reset"] = lbr
    if op == "LSTM":
        hyper["input_forget"] = int(attrs.get("input_forget", 0))
    binding = {"form": "node", "W": node.input[1], "R": node.input[2]}
    return params, hyper, binding


def _body_input_for(node: Any, loop_input: str) -> str | None:
    """The body's name of a loop-carried input fed from ``loop_input``."""
    body = attributes(node)["body"]
    for position, name in enumerate(node.input):
        if name == loop_input and position >= 2 and position < len(body.input):
            return str(body.input[position].name)
    return None


def loop_gru(view: GraphView, index: int) -> Canonical | None:
    """A ``Loop`` that computes a Keras GRU (tf2onnx's while-loop translation), or None.

    Recognised by its constants: a kernel (I, 3H), a recurrent kernel (H, 3H) and a bias
    (2, 3H) or (3H,), with Sigmoid and Tanh in the body. Keras' gate order z, r, h is
    ONNX's; ``reset_after`` is ``linear_before_reset``.
    """
    node = view.nodes[index]
    body = attributes(node).get("body")
    if body is None:
        return None
    consts = {}
    for name in view.node_inputs[index]:
        value = view.const(name)
        if value is not None and np.issubdtype(value.dtype, np.floating) and value.ndim in (1, 2):
            consts[name] = _f64(value)
    bias_name = next(
        (n for n, v in consts.items() if v.ndim == 2 and v.shape[0] == 2 and v.shape[1] % 3 == 0),
        None,
    ) or next((n for n, v in consts.items() if v.ndim == 1 and v.size % 3 == 0), None)
    if bias_name is None:
        return None
    hidden = consts[bias_name].shape[-1] // 3
    mats = {n: v for n, v in consts.items() if v.ndim == 2 and v.shape[1] == 3 * hidden}
    mats.pop(bias_name, None)
    recurrent_names = [n for n, v in mats.items() if v.shape[0] == hidden]
    kernel_names = [n for n, v in mats.items() if v.shape[0] != hidden]
    if len(mats) != 2:
        return None
    if len(recurrent_names) == 2:  # input size equals hidden size: ask the body
        recurrent_names = [n for n in mats if _feeds_state_matmul(node, n)]
        kernel_names = [n for n in mats if n not in recurrent_names]
    if len(recurrent_names) != 1 or len(kernel_names) != 1:
        return None
    ops = [n.op_type for n in body.node]
    acts = [op for op in ops if op in _GATE_ACTIVATIONS]
    if len(acts) < 2:
        return None
    kernel, rec, bias = consts[kernel_names[0]], consts[recurrent_names[0]], consts[bias_name]
    lbr = 1 if bias.ndim == 2 else 0
    w_b = bias[0] if lbr else bias
    r_b = bias[1] if lbr else np.zeros_like(bias)
    params = {"weight": kernel.T[None], "recurrence": rec.T[None]}
    params.update(_recurrent_bias("GRU", w_b[None], r_b[None], hidden, lbr))
    hyper: dict[str, Any] = {
        "cell": "GRU",
        "hidden_size": hidden,
        "direction": "forward",
        "activations": _gru_activations(acts),
        "clip": None,
        "layout": 0,
        "linear_before_reset": lbr,
    }
    binding = {
        "form": "keras_loop",
        "kernel": kernel_names[0],
        "recurrent_kernel": recurrent_names[0],
        "bias": bias_name,
    }
    return params, hyper, binding


def _gru_activations(acts: list[str]) -> list[str]:
    """[f, g] of a GRU from the activation ops of its step (f gates z and r, g the state)."""
    if len(acts) == 3:
        for f in acts:
            if acts.count(f) == 2:
                g = next(a for a in acts if a != f)
                return [f, g]
        if len(set(acts)) == 1:
            return [acts[0], acts[0]]
    return sorted(acts)


def _feeds_state_matmul(node: Any, loop_input: str) -> bool:
    """Whether the body multiplies the loop-carried state by ``loop_input``."""
    body = attributes(node)["body"]
    inner = _body_input_for(node, loop_input) or loop_input
    state_inputs = {i.name for i in body.input[2:]} - {inner}
    for n in body.node:
        if n.op_type == "MatMul" and inner in n.input:
            other = n.input[0] if n.input[1] == inner else n.input[1]
            if other in state_inputs:
                return True
    return False


def pool(view: GraphView, index: int) -> dict[str, Any]:
    """Hyperparameters of MaxPool / AveragePool / LpPool."""
    node = view.nodes[index]
    attrs = attributes(node)
    kernel = _ints(attrs.get("kernel_shape"), [])
    n = len(kernel)
    hyper: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": _ints(attrs.get("strides"), [1] * n),
        "pads": resolve_pads(attrs, kernel, _spatial(view, node.input[0], n)),
        "dilations": _ints(attrs.get("dilations"), [1] * n),
        "ceil_mode": int(attrs.get("ceil_mode", 0)),
    }
    if node.op_type == "AveragePool":
        hyper["count_include_pad"] = int(attrs.get("count_include_pad", 0))
    if node.op_type == "LpPool":
        hyper["p"] = int(attrs.get("p", 2))
    return hyper


def generic(view: GraphView, index: int) -> Canonical:
    """Any other operator: its constant float inputs and its plain attributes."""
    node = view.nodes[index]
    params = {}
    for position, name in enumerate(node.input):
        value = view.const(name)
        if value is not None and np.issubdtype(value.dtype, np.floating):
            params[f"input{position}"] = _f64(value)
    hyper: dict[str, Any] = {}
    for key, value in attributes(node).items():
        if isinstance(value, (int, float, str)):
            hyper[key] = value
        elif isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
            hyper[key] = list(value)
    binding = {"inputs": {f"input{p}": n for p, n in enumerate(node.input)}}
    return params, hyper, binding
