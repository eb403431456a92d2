"""TFLite flatbuffers, run in the LiteRT interpreter (``ai-edge-litert``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.formats import OnnxView, Predict, Signature
from convstudy.formats.framework import VIEW_OPSET
from convstudy.spec import ModelSpec

ARTIFACT = "model.tflite"
SUFFIXES = (".tflite",)


def detect(path: Path) -> str | None:
    return "tflite" if path.is_file() and path.suffix.lower() in SUFFIXES else None


def _reason(exc: BaseException) -> str:
    """The interpreter's own message in one line: each distinct line once (it repeats one
    line per node that fails), without its generic advice."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line.split(". ")[0] for line in dict.fromkeys(lines) if line != "Registration failed."]
    return "; ".join(kept[:3]) + ("; ..." if len(kept) > 3 else "") or type(exc).__name__


def _interpreter(artifact: Path, threads: int | None = None) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(artifact), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as exc:
        raise ValueError(f"not a model the LiteRT interpreter runs: {_reason(exc)}") from exc
    return interpreter


def signature(artifact: Path) -> Signature:
    """The model's input (a dynamic axis as None) and its output's size."""
    interpreter = _interpreter(artifact)
    (details,) = interpreter.get_input_details()
    shape = tuple(
        None if int(sig) == -1 else int(dim)
        for dim, sig in zip(details["shape"], details["shape_signature"], strict=True)
    )
    out = interpreter.get_output_details()[0]
    return Signature(
        str(details["name"]), shape, np.dtype(details["dtype"]).name, int(out["shape"][-1])
    )


def _batches(interpreter: Any) -> Predict:
    """The interpreter as a batch function of its own input (dtype and layout).

    A model with a dynamic batch axis is resized to each batch; a model with a static batch
    (litert-torch exports one, a fused recurrent op needs one) is run on slices of its
    batch size.
    """
    (details,) = interpreter.get_input_details()
    output = interpreter.get_output_details()[0]
    dynamic = int(details["shape_signature"][0]) == -1
    static = int(details["shape"][0])
    allocated = {"batch": static}

    def run(x: np.ndarray) -> np.ndarray:
        if x.shape[0] != allocated["batch"]:
            interpreter.resize_tensor_input(details["index"], list(x.shape), strict=False)
            interpreter.allocate_tensors()
            allocated["batch"] = x.shape[0]
        interpreter.set_tensor(details["index"], np.ascontiguousarray(x, dtype=details["dtype"]))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(output["index"]))

    def predict(x: np.ndarray) -> np.ndarray:
        if dynamic or len(x) == static:
            return run(x)
        pad = -len(x) % static
        padded = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
        parts = [run(padded[i : i + static]) for i in range(0, len(padded), static)]
        return np.concatenate(parts)[: len(x)]

    return predict


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Load the model in the interpreter; return a batch function (see :func:`_batches`)."""
    return _batches(_interpreter(artifact, threads))


def _float_io(interpreter: Any, predict: Predict) -> Predict:
    """``predict`` with float inputs and outputs: an integer input quantized by the file's
    own scale and zero point, an integer output dequantized by its own."""
    from convstudy.formats.qdq import Quantization

    def grid(details: dict[str, Any]) -> Quantization | None:
        scale, zero = details["quantization"]
        dtype = np.dtype(details["dtype"])
        if not scale or not np.issubdtype(dtype, np.integer):
            return None
        return Quantization(float(scale), int(zero), dtype)

    q_in = grid(interpreter.get_input_details()[0])
    q_out = grid(interpreter.get_output_details()[0])

    def run(x: np.ndarray) -> np.ndarray:
        y = predict(x if q_in is None else q_in.quantize(x))
        return y if q_out is None else q_out.dequantize(y)

    return run


def _tf2onnx(artifact: Path) -> Any:
    """``tf2onnx.convert.from_tflite``, refused in one line when tf2onnx reports an op it has
    no handler for (it goes on past such an op and fails later on a missing tensor)."""
    import logging
    from importlib import metadata

    import tf2onnx

    unsupported: list[str] = []

    class Unsupported(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Tensorflow op [") and "is not supported" in message:
                op = message.split(": ", 1)[-1].split("]", 1)[0].removeprefix("TFL_")
                unsupported.append(op)

    handler = Unsupported(logging.ERROR)
    logger = logging.getLogger("tf2onnx")
    logger.addHandler(handler)
    try:
        model, _ = tf2onnx.convert.from_tflite(str(artifact), opset=VIEW_OPSET)
    except Exception as exc:
        if not unsupported:
            raise ValueError(f"tf2onnx.convert.from_tflite failed: {exc}") from exc
        model = None
    finally:
        logger.removeHandler(handler)
    if unsupported:
        ops = ", ".join(dict.fromkeys(unsupported))
        version = metadata.version("tf2onnx")
        raise ValueError(f"TFLite op {ops} is not supported by tf2onnx {version}: no ONNX view")
    return model


def _float16_storage(model: Any) -> Any:
    """The view with the weights the file stores in float16 as float16 initializers cast to
    float32 (tf2onnx folds the file's DEQUANTIZE of them away): the storage grid stays
    visible to the localization."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        value = numpy_helper.to_array(init)
        if value.dtype != np.float32 or value.size < 2:
            continue
        half = value.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), value):
            continue
        stored = f"{init.name}_float16"
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, stored))
        casts.append(helper.make_node("Cast", [stored], [init.name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """``tf2onnx.convert.from_tflite``, with float inputs and outputs (:mod:`.qdq`) and
    float16 weights kept as such; verified against the interpreter."""
    from convstudy.formats import qdq

    interpreter = _interpreter(artifact)
    model = _tf2onnx(artifact)
    if qdq.is_quantized(model):
        model = qdq.float_io(qdq.to_qdq(model))
    halves = any(np.dtype(t["dtype"]) == np.float16 for t in interpreter.get_tensor_details())
    if halves:
        model = _float16_storage(model)
    how = f"tf2onnx.convert.from_tflite (opset {VIEW_OPSET})"
    return OnnxView(model, _float_io(interpreter, _batches(interpreter)), how)
