"""TensorFlow SavedModels, run in TensorFlow through their ``serving_default`` signature."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.formats import OnnxView, Predict, Signature
from convstudy.formats.framework import VIEW_OPSET
from convstudy.spec import ModelSpec

ARTIFACT = "model.savedmodel"


def detect(path: Path) -> str | None:
    return "savedmodel" if path.is_dir() and (path / "saved_model.pb").exists() else None


def _serving(artifact: Path) -> tuple[Any, Any]:
    """(the loaded object, its serving signature); the signature holds no reference to its
    object, so callers keep both."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(artifact))
        return loaded, loaded.signatures["serving_default"]
    except Exception as exc:
        raise ValueError(f"not a SavedModel with a serving signature ({exc})") from exc


def signature(artifact: Path) -> Signature:
    """The one input of the serving signature, and its first output's size."""
    _, serving = _serving(artifact)
    specs = serving.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"serving signature has {len(specs)} inputs; one is supported")
    ((name, tensor),) = specs.items()
    out = next(iter(serving.structured_outputs.values()))
    classes = out.shape[-1]
    return Signature(
        name,
        tuple(tensor.shape.as_list()),
        tensor.dtype.as_numpy_dtype.__name__,
        int(classes) if classes is not None else None,
    )


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Load the SavedModel; return its serving signature as a batch function."""
    import tensorflow as tf

    from convstudy.frameworks import adapter

    adapter("keras").limit_threads(threads)
    loaded, serving = _serving(artifact)
    ((name, tensor),) = serving.structured_input_signature[1].items()
    (output,) = list(serving.structured_outputs)[:1]

    def predict(x: np.ndarray) -> np.ndarray:
        assert loaded is not None  # kept alive with the signature
        return np.asarray(serving(**{name: tf.constant(x, dtype=tensor.dtype)})[output])

    return predict


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """``tf2onnx.convert.from_function`` on the serving signature."""
    import tensorflow as tf
    import tf2onnx

    loaded, serving = _serving(artifact)
    specs = serving.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"serving signature has {len(specs)} inputs; one is supported")
    ((name, tensor),) = specs.items()
    output = min(serving.structured_outputs)

    def call(x: Any) -> Any:
        assert loaded is not None
        return serving(**{name: x})[output]

    model, _ = tf2onnx.convert.from_function(
        tf.function(lambda x: {"logits": call(x)}),
        input_signature=(tf.TensorSpec(tensor.shape, tensor.dtype, name="x"),),
        opset=VIEW_OPSET,
    )
    return OnnxView(
        model,
        lambda x: call(tf.constant(x)).numpy(),
        f"tf2onnx.convert.from_function on serving_default (opset {VIEW_OPSET})",
    )
