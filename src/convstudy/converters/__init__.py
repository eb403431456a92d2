"""Converters: one module per target format, each exposing the same small interface.

``convert(model, path, *, framework, example, settings) -> dict`` writes the converted
artifact to ``path`` and returns facts about the conversion (exporter, opset, ...).
A converter exception is a finding: :func:`convstudy.conversion.convert_cell` records it.
"""

from __future__ import annotations

#: The artifact file name inside a conversion cell's folder, per format family.
ARTIFACT = {"onnx": "model.onnx", "coreml": "model.mlpackage"}


def family(fmt: str) -> str:
    """``"onnx"`` or ``"coreml"`` for a format wildcard such as ``"coreml-fp16"``."""
    return fmt.split("-")[0]
