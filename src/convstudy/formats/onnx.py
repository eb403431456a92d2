"""ONNX files (and ONNX with FP16 weights and compute), run in onnxruntime's CPU provider.

Imports neither torch nor TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.formats import OnnxView, Predict, Signature
from convstudy.spec import ModelSpec

ARTIFACT = "model.onnx"
SUFFIXES = (".onnx",)


def detect(path: Path) -> str | None:
    return "onnx" if path.is_file() and path.suffix.lower() in SUFFIXES else None


def _load(artifact: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(artifact))
    except Exception as exc:  # protobuf raises several unrelated types
        raise ValueError(f"not an ONNX model ({type(exc).__name__})") from exc


def signature(artifact: Path) -> Signature:
    """The first graph input that is not an initializer, checked with ``onnx.checker``."""
    import onnx

    model = _load(artifact)
    onnx.checker.check_model(model)
    initializers = {i.name for i in model.graph.initializer}
    first = next(i for i in model.graph.input if i.name not in initializers)
    tensor = first.type.tensor_type
    shape = tuple(d.dim_value or None for d in tensor.shape.dim)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    out = model.graph.output[0].type.tensor_type.shape.dim
    return Signature(first.name, shape, dtype, int(out[-1].dim_value) or None)


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
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


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """The file itself: the view is the model. A quantized model in QOperator form or with
    integer inputs or outputs is seen in QDQ form with float inputs and outputs
    (:mod:`.qdq`), verified against onnxruntime running the file."""
    from convstudy.formats import qdq

    model = _load(artifact)
    if not qdq.is_quantized(model):
        return OnnxView(model, None, "as given")
    view = qdq.float_io(qdq.to_qdq(model))
    if view.graph == model.graph:
        return OnnxView(model, None, "as given (QDQ)")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    own = qdq.own_float_io(model, lambda x: np.asarray(session.run(None, {name: x})[0]))
    return OnnxView(view, own, "QDQ form of the quantized operators, float inputs and outputs")
