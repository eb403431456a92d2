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


def _interpreter(artifact: Path, threads: int | None = None) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(artifact), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as exc:
        raise ValueError(f"not a runnable .tflite model ({type(exc).__name__})") from exc
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


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Load the model in the interpreter; return a batch function.

    A model with a dynamic batch axis is resized to each batch; a model with a static batch
    (litert-torch exports one) is run on slices of its batch size.
    """
    interpreter = _interpreter(artifact, threads)
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


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """``tf2onnx.convert.from_tflite``; verified against the interpreter."""
    import tf2onnx

    interpreter = _interpreter(artifact)
    try:
        model, _ = tf2onnx.convert.from_tflite(str(artifact), opset=VIEW_OPSET)
    except Exception as exc:
        raise ValueError(f"tf2onnx.convert.from_tflite failed: {exc}") from exc
    detail_in = interpreter.get_input_details()[0]
    detail_out = interpreter.get_output_details()[0]

    def predict(x: np.ndarray) -> np.ndarray:
        if tuple(detail_in["shape"]) != x.shape:
            interpreter.resize_tensor_input(detail_in["index"], x.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(detail_in["index"], x.astype(detail_in["dtype"]))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(detail_out["index"]))

    return OnnxView(model, predict, f"tf2onnx.convert.from_tflite (opset {VIEW_OPSET})")
