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


def to_onnx(artifact: Path, opset: int) -> tuple[Any, str]:
    """The serving signature as an ONNX model with its variables frozen into initializers,
    and the name of its output.

    tf2onnx's saved-model entry point (``tf_loader.from_saved_model``, what ``python -m
    tf2onnx.convert --saved-model`` runs) freezes the variables the function captures;
    ``tf2onnx.convert.from_function`` on the serving function does not for every writer
    (onnx2tf's captured variables become extra graph inputs). The first output in name
    order is kept, as :func:`onnx_view`'s own prediction returns it.
    """
    import tf2onnx
    from tf2onnx import tf_loader

    graph_def, inputs, outputs, renamed = tf_loader.from_saved_model(
        str(artifact),
        None,
        None,
        tag=["serve"],
        signatures=["serving_default"],
        return_tensors_to_rename=True,
    )
    if len(inputs) != 1:
        raise ValueError(f"serving signature has {len(inputs)} inputs; one is supported")
    output = min(outputs, key=lambda name: renamed.get(name, name))
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name=artifact.name,
        input_names=inputs,
        output_names=[output],
        opset=opset,
        tensors_to_rename=renamed,
    )
    return model, renamed.get(output, output)


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """The frozen serving signature (:func:`to_onnx`), verified against TensorFlow."""
    import tensorflow as tf

    loaded, serving = _serving(artifact)
    specs = serving.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"serving signature has {len(specs)} inputs; one is supported")
    ((name, _),) = specs.items()
    model, output = to_onnx(artifact, VIEW_OPSET)

    def call(x: Any) -> Any:
        assert loaded is not None
        return serving(**{name: x})[output]

    return OnnxView(
        model,
        lambda x: call(tf.constant(x)).numpy(),
        f"tf2onnx saved-model entry point, variables frozen (opset {VIEW_OPSET})",
    )
