"""Keras 3 or a TF SavedModel to TFLite with TensorFlow's TFLite converter, with the settings
practitioners deploy with: float32 (``tflite``: no optimisation), dynamic-range quantization
(``tflite-dr``: ``Optimize.DEFAULT``, int8 weights, float inputs and outputs) or float16
weights (``tflite-fp16``: ``Optimize.DEFAULT`` with ``supported_types = [float16]``); the
target format's ``optimization`` option says which.

Builtin operators only: a model that needs Flex (``SELECT_TF_OPS``) operators converts, but
no interpreter here runs it, so such a model is a converter failure, not a TFLite file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import frameworks, registry
from convstudy.converters import Converted
from convstudy.formats import tflite
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Convert the Keras model or SavedModel of folder ``source`` into ``out``.

    ``settings["unroll"]`` (Keras sources) rebuilds LSTM/GRU layers unrolled first; rolled,
    they become TensorList ops that builtin TFLite lacks (ConverterError).
    """
    import tensorflow as tf

    unroll = False
    if spec.format == "savedmodel":
        artifact = source / registry.fmt(spec.format).artifact
        converter = tf.lite.TFLiteConverter.from_saved_model(str(artifact))
        how = "TFLiteConverter.from_saved_model"
    else:
        unroll = bool(settings.get("unroll", False))
        model = frameworks.load(source, spec, unroll=unroll)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        how = "TFLiteConverter.from_keras_model"
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    optimization = settings.get("optimization", "none")
    if optimization in ("dynamic-range", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if optimization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif optimization not in ("none", "dynamic-range"):
        raise ValueError(f"unknown TFLite optimization {optimization!r}")
    out.write_bytes(converter.convert())
    found = tflite.signature(out)
    facts = {
        "converter": how,
        "ops": "TFLITE_BUILTINS",
        "optimization": optimization,
        "unroll": unroll,
        "input": found.name,
    }
    target = str(settings.get("target", "tflite"))
    return Converted(
        spec.observed(target, shape=found.shape, dtype=found.dtype, name=found.name), facts
    )
