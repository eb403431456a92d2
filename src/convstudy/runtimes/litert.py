"""TFLite models in the LiteRT interpreter (``ai-edge-litert``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convstudy.frameworks import Predict
from convstudy.spec import ModelSpec


def tflite_input(artifact: Path) -> tuple[str, tuple[int | None, ...], str]:
    """(name, shape with None for a dynamic axis, numpy dtype name) of the model's input."""
    from ai_edge_litert.interpreter import Interpreter

    (details,) = Interpreter(model_path=str(artifact)).get_input_details()
    shape = tuple(
        None if int(sig) == -1 else int(dim)
        for dim, sig in zip(details["shape"], details["shape_signature"], strict=True)
    )
    return str(details["name"]), shape, np.dtype(details["dtype"]).name


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
    """Load the model in the interpreter; return a batch function.

    A model with a dynamic batch axis is resized to each batch; a model with a static batch
    (litert-torch exports one) is run on slices of its batch size.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(artifact), num_threads=threads)
    (details,) = interpreter.get_input_details()
    output = interpreter.get_output_details()[0]
    dynamic = int(details["shape_signature"][0]) == -1
    static = int(details["shape"][0])
    allocated = {"batch": static}
    interpreter.allocate_tensors()

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
