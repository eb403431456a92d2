"""CoreML neuralnetwork models (``.mlmodel``, one protobuf file, FP32 weights in its
layers): coremltools' ``convert_to="neuralnetwork"``, its default until version 7 and the
format the published study converted to. They run in the same CoreML runtime as ML
programs (macOS only); only the artifact differs (:mod:`convstudy.formats.coreml`)."""

from __future__ import annotations

from convstudy.formats.coreml import detect, load, onnx_view, signature

__all__ = ["ARTIFACT", "detect", "load", "onnx_view", "signature"]

ARTIFACT = "model.mlmodel"
