"""onnx2torch 1.5.15 made usable on the study's graphs, then :func:`build_module`.

What it lacks, added through its own ``add_converter`` registry:

* ONNX ``LSTM`` and ``GRU`` (one forward layer, default activations, no peepholes), as
  torch.onnx and tf2onnx write them for the study's recurrent models;
* ``Reduce*`` of opset 18, whose axes are an input (the dynamo exporter writes
  ``ReduceMean``-18 for global average pooling).

It rejects ``Reshape(allowzero=1)``, which the dynamo exporter writes: the attribute is
dropped, which is the same operation unless a target shape holds a 0 (never in the study's
graphs). onnx2torch imports torchvision for its NMS and RoIAlign converters only, and the
PyPI torchvision is a CUDA build that fails to import beside the CPU torch: where it cannot
be imported, a module that raises on use stands in for it.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np


def _import_onnx2torch() -> Any:
    try:
        import torchvision
    except Exception:  # noqa: BLE001 -- absent, or the CUDA build failing with CPU torch
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]

        def unavailable(*_args: Any, **_kwargs: Any) -> Any:
            raise NotImplementedError("torchvision operators (NMS, RoIAlign) are unavailable")

        torchvision = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")
        ops.nms = ops.roi_align = unavailable  # type: ignore[attr-defined]
        torchvision.ops = ops  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = torchvision, ops
    import onnx2torch

    _register_missing_converters()
    return onnx2torch


def build_module(graph: Any) -> Any:
    """The ONNX ``graph`` (an ``onnx.ModelProto``, edited in place) as a torch module."""
    onnx2torch = _import_onnx2torch()
    for node in graph.graph.node:
        if node.op_type == "Reshape":
            kept = [a for a in node.attribute if not (a.name == "allowzero" and a.i == 1)]
            del node.attribute[:]
            node.attribute.extend(kept)
    return onnx2torch.convert(graph).eval()


_registered = False


def _recurrent_module(kind: str) -> type:
    import torch

    class OnnxRecurrent(torch.nn.Module):
        """ONNX LSTM (gates i, o, f, c) or GRU (gates z, r, h) semantics, layout 0 or 1."""

        def __init__(
            self,
            w: np.ndarray,
            r: np.ndarray,
            b: np.ndarray | None,
            *,
            hidden: int,
            layout: int,
            linear_before_reset: int,
            n_out: int,
        ) -> None:
            super().__init__()
            self.hidden, self.layout, self.lbr, self.n_out = (
                hidden,
                layout,
                linear_before_reset,
                n_out,
            )
            gates = w.shape[1]
            bias = b[0] if b is not None else np.zeros(2 * gates, np.float32)
            self.W = torch.nn.Parameter(torch.from_numpy(w[0].copy()))
            self.R = torch.nn.Parameter(torch.from_numpy(r[0].copy()))
            self.Wb = torch.nn.Parameter(torch.from_numpy(bias[:gates].copy()))
            self.Rb = torch.nn.Parameter(torch.from_numpy(bias[gates:].copy()))

        def _state(self, s: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
            if s is None:
                return x.new_zeros(x.shape[0], self.hidden)
            return s[0] if self.layout == 0 else s[:, 0]

        def forward(
            self, x: torch.Tensor, h0: torch.Tensor | None = None, c0: torch.Tensor | None = None
        ) -> Any:
            if self.layout == 0:  # (seq, batch, features)
                x = x.transpose(0, 1)
            h, c = self._state(h0, x), self._state(c0, x)
            projected = torch.nn.functional.linear(x, self.W, self.Wb)
            ys = []
            for t in range(x.shape[1]):
                if kind == "LSTM":
                    g = projected[:, t] + torch.nn.functional.linear(h, self.R, self.Rb)
                    i, o, f, cell = g.chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cell)
                    h = torch.sigmoid(o) * torch.tanh(c)
                else:
                    xz, xr, xh = projected[:, t].chunk(3, dim=1)
                    rz, rr, rh = self.R.chunk(3, dim=0)
                    bz, br, bh = self.Rb.chunk(3, dim=0)
                    z = torch.sigmoid(xz + h @ rz.T + bz)
                    reset = torch.sigmoid(xr + h @ rr.T + br)
                    if self.lbr:
                        candidate = torch.tanh(xh + reset * (h @ rh.T + bh))
                    else:
                        candidate = torch.tanh(xh + (reset * h) @ rh.T + bh)
                    h = (1 - z) * candidate + z * h
                ys.append(h)
            y = torch.stack(ys, dim=1)
            y = y.unsqueeze(2) if self.layout == 1 else y.transpose(0, 1).unsqueeze(1)
            states = (h, c) if kind == "LSTM" else (h,)
            outs = (y, *(s.unsqueeze(0) if self.layout == 0 else s.unsqueeze(1) for s in states))
            return outs[0] if self.n_out == 1 else outs[: self.n_out]

    return OnnxRecurrent


#: Shape ops whose output :func:`_fold` computes when all their inputs are constants.
_FOLDABLE = frozenset(
    {"Unsqueeze", "Squeeze", "Transpose", "Reshape", "Concat", "Slice", "Identity", "Cast"}
)


def _fold(proto: Any, inputs: list[np.ndarray | None]) -> np.ndarray:
    """The first output of the ONNX node ``proto`` on constant ``inputs``."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    node = onnx.NodeProto()
    node.CopyFrom(proto)
    names = [f"in{k}" if value is not None else "" for k, value in enumerate(inputs)]
    del node.input[:]
    node.input.extend(names)
    del node.output[1:]
    feeds = {n: v for n, v in zip(names, inputs, strict=True) if v is not None}
    outputs: list[Any] = list(ReferenceEvaluator(node).run(None, feeds))
    return np.asarray(outputs[0])


def _register_missing_converters() -> None:
    global _registered
    if _registered:
        return
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.node_converters.registry import add_converter
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    def constant(name: str, graph: Any) -> np.ndarray:
        """A constant input; one computed from constants by a shape op (the dynamo
        exporter reorders RNN gates with Slice and Concat) is folded with onnx's reference
        evaluator, as onnx2torch's own lookup does not."""
        try:
            value = get_const_value(name, graph)
        except KeyError:
            try:
                node, _ = graph.value_as_node_output(name)
            except KeyError:
                node = None
            if node is None or node.operation_type not in _FOLDABLE:
                raise
            return _fold(node.proto, [constant(i, graph) if i else None for i in node.input_values])
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value)

    def recurrent(kind: str) -> Callable[[Any, Any], Any]:
        module_type = _recurrent_module(kind)

        def converter(node: Any, graph: Any) -> Any:
            attributes = node.attributes
            default = ["sigmoid", "tanh", "tanh"] if kind == "LSTM" else ["sigmoid", "tanh"]
            activations = [
                (v.decode() if isinstance(v, bytes) else str(v)).lower()
                for v in attributes.get("activations", [])
            ]
            if attributes.get("direction", "forward") != "forward":
                raise NotImplementedError(f"{kind}: direction other than forward")
            if activations and activations != default:
                raise NotImplementedError(f"{kind}: activations {activations}")
            if attributes.get("clip") is not None or attributes.get("input_forget", 0):
                raise NotImplementedError(f"{kind}: clip or input_forget")
            inputs = [*node.input_values, *[""] * 8]
            if inputs[4] or (kind == "LSTM" and inputs[7]):
                raise NotImplementedError(f"{kind}: sequence_lens or peepholes")
            states = [inputs[5], *([inputs[6]] if kind == "LSTM" else [])]
            while states and not states[-1]:
                states.pop()
            if not all(states):
                raise NotImplementedError(f"{kind}: initial_c without initial_h")
            module = module_type(
                constant(inputs[1], graph),
                constant(inputs[2], graph),
                constant(inputs[3], graph) if inputs[3] else None,
                hidden=int(attributes["hidden_size"]),
                layout=int(attributes.get("layout", 0)),
                linear_before_reset=int(attributes.get("linear_before_reset", 0)),
                n_out=len(node.output_values),
            )
            mapping = OnnxMapping(inputs=(inputs[0], *states), outputs=tuple(node.output_values))
            return OperationConverterResult(torch_module=module, onnx_mapping=mapping)

        return converter

    def reduce18(node: Any, graph: Any) -> Any:
        inputs = list(node.input_values)
        axes = None
        if len(inputs) > 1 and inputs[1]:
            axes = [int(v) for v in constant(inputs[1], graph).reshape(-1)]
        if not axes and node.attributes.get("noop_with_empty_axes", 0):
            raise NotImplementedError(f"{node.operation_type}: noop_with_empty_axes=1")
        module = OnnxReduceStaticAxes(node.operation_type, axes, node.attributes.get("keepdims", 1))
        mapping = OnnxMapping(inputs=(inputs[0],), outputs=tuple(node.output_values))
        return OperationConverterResult(torch_module=module, onnx_mapping=mapping)

    added = [
        (kind, version, recurrent(kind)) for kind in ("LSTM", "GRU") for version in (7, 14, 22)
    ]
    added += [
        (op, 18, reduce18)
        for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                   "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
    ]  # fmt: skip
    for op, version, function in added:
        try:
            add_converter(operation_type=op, version=version)(function)
        except ValueError:  # onnx2torch has its own converter for it: keep that one
            pass
    _registered = True
