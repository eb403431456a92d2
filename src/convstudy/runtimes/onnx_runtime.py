"""ONNX models in onnxruntime (CPU execution provider). Imports neither torch nor TF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def load(path: Path, *, threads: int, **_: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Open an inference session on ``path/model.onnx``; return its prediction function."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(path / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: x})[0]

    return predict
