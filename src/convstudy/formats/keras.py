"""Keras 3 ``.keras`` archives: a trained study model, or a file a user brings (opened in
Keras's safe mode: no code of the file runs)."""

from __future__ import annotations

from pathlib import Path

from convstudy.formats import OnnxView, Signature
from convstudy.formats.framework import VIEW_OPSET, load, study_view, thread_counts, use_device
from convstudy.spec import ModelSpec

__all__ = ["ARTIFACT", "detect", "load", "onnx_view", "signature", "thread_counts", "use_device"]

ARTIFACT = "model.keras"
SUFFIXES = (".keras",)


def detect(path: Path) -> str | None:
    return "keras" if path.is_file() and path.suffix.lower() in SUFFIXES else None


def _load_archive(path: Path) -> object:
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ValueError(f"not a loadable .keras archive ({type(exc).__name__})") from exc


def signature(artifact: Path) -> Signature:
    net = _load_archive(artifact)
    shape = tuple(net.inputs[0].shape)  # type: ignore[attr-defined]
    classes = int(net.outputs[0].shape[-1])  # type: ignore[attr-defined]
    return Signature("x", shape, str(net.inputs[0].dtype), classes)  # type: ignore[attr-defined]


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """A study model through the study's converter (tf2onnx); a brought archive through
    ``tf2onnx.convert.from_function`` on its inference function."""
    if spec is not None:
        return study_view(artifact, spec, {"opset": VIEW_OPSET})
    import tensorflow as tf
    import tf2onnx

    net = _load_archive(artifact)
    tensor = net.inputs[0]  # type: ignore[attr-defined]
    function = tf.function(lambda x: {"logits": net(x, training=False)})  # type: ignore[operator]
    model, _ = tf2onnx.convert.from_function(
        function,
        input_signature=(tf.TensorSpec(tensor.shape, tensor.dtype, name="x"),),
        opset=VIEW_OPSET,
    )
    predict = tf.function(lambda x: net(x, training=False), reduce_retracing=True)  # type: ignore[operator]
    return OnnxView(
        model,
        lambda x: predict(tf.constant(x)).numpy(),
        f"tf2onnx.convert.from_function (opset {VIEW_OPSET})",
    )
