"""Keras 3 to a TF SavedModel with ``model.export`` (Keras's own serving export)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import frameworks
from convstudy.converters import Converted
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Export the Keras model of ``source`` as a SavedModel folder ``out``.

    ``settings["unroll"]`` rebuilds LSTM/GRU layers unrolled first (same weights): the TFLite
    converter turns a rolled Keras 3 RNN into TensorList ops it cannot lower to builtins.
    """
    from convstudy.runtimes.savedmodel import serving_input

    model = frameworks.load(source, spec, unroll=bool(settings.get("unroll", False)))
    model.export(str(out), format="tf_saved_model", verbose=False)
    name, shape, dtype = serving_input(out)
    facts = {
        "converter": "keras.Model.export (tf_saved_model)",
        "unroll": bool(settings.get("unroll", False)),
        "input": name,
    }
    return Converted(spec.observed("savedmodel", shape=shape, dtype=dtype, name=name), facts)
