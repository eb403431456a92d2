"""Keras 3 or a TF SavedModel to float32 TFLite with TensorFlow's TFLite converter.

Builtin operators only: a model that needs Flex (``SELECT_TF_OPS``) operators converts, but
no interpreter here runs it, so such a model is a converter failure, not a TFLite file.
No quantisation: the converter's default optimisations are off.
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
    out.write_bytes(converter.convert())
    found = tflite.signature(out)
    facts = {"converter": how, "ops": "TFLITE_BUILTINS", "unroll": unroll, "input": found.name}
    return Converted(
        spec.observed("tflite", shape=found.shape, dtype=found.dtype, name=found.name), facts
    )
