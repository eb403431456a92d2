"""ONNX to ONNX in FP16 with onnxconverter-common: weights and compute in half precision,
inputs and outputs kept float32.

CoreML ML programs compute in FP16 by default, and no CoreML runtime exists off macOS;
this format measures what half precision alone does to a model, in onnxruntime.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import registry
from convstudy.converters import Converted
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Write the FP16 version of the ONNX model of ``source`` to ``out``."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(source / registry.fmt(spec.format).artifact))
    half = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(out))
    facts = {"converter": "onnxconverter_common.float16.convert_float_to_float16 (keep_io_types)"}
    return Converted(spec.converted(settings["target"]), facts)
