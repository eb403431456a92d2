"""ONNX models in onnxruntime (CPU execution provider). Imports neither torch nor TF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convstudy.frameworks import Predict
from convstudy.spec import ModelSpec


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
    """Open an inference session (graph optimisation included); return its run function."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: x})[0])

    predict.session = session  # type: ignore[attr-defined]
    return predict


def thread_counts(predict: Predict) -> dict[str, int]:
    """The session's configured intra- and inter-op thread counts."""
    options = predict.session.get_session_options()  # type: ignore[attr-defined]
    return {
        "ort_intra_op": options.intra_op_num_threads,
        "ort_inter_op": options.inter_op_num_threads,
    }
