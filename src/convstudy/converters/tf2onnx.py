"""Keras 3 to ONNX with tf2onnx."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import frameworks
from convstudy.converters import Converted
from convstudy.converters.onnx_facts import opset_written
from convstudy.spec import ModelSpec

INPUT_NAME = "x"
OUTPUT_NAME = "logits"


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Convert the inference function of the Keras model of ``source`` to ``out``."""
    import tensorflow as tf
    import tf2onnx

    model = frameworks.load(source, spec)
    example = spec.example()
    # tf2onnx.convert.from_keras fails on Keras 3 (KeyError 'keras_tensor_N'): convert the
    # inference function instead, which is what from_keras does internally on Keras 2.
    signature = (
        tf.TensorSpec((None, *example.shape[1:]), tf.as_dtype(example.dtype), name=INPUT_NAME),
    )
    function = tf.function(lambda x: {OUTPUT_NAME: model(x, training=False)})
    tf2onnx.convert.from_function(
        function, input_signature=signature, opset=settings["opset"], output_path=str(out)
    )
    facts = {
        "converter": "tf2onnx.convert.from_function",
        "opset": opset_written(out),
        "opset_requested": settings["opset"],
    }
    return Converted(spec.converted("onnx", name=INPUT_NAME), facts)
