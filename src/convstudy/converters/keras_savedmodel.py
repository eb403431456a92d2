"""Keras 3 to a TF SavedModel with ``model.export`` (Keras's own serving export)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import frameworks
from convstudy.converters import Converted
from convstudy.formats import savedmodel
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Export the Keras model of ``source`` as a SavedModel folder ``out``.

    ``settings["unroll"]`` rebuilds LSTM/GRU layers unrolled first (same weights): the TFLite
    converter turns a rolled Keras 3 RNN into TensorList ops it cannot lower to builtins.
    """
    model = frameworks.load(source, spec, unroll=bool(settings.get("unroll", False)))
    model.export(str(out), format="tf_saved_model", verbose=False)
    found = savedmodel.signature(out)
    facts = {
        "converter": "keras.Model.export (tf_saved_model)",
        "unroll": bool(settings.get("unroll", False)),
        "input": found.name,
    }
    observed = spec.observed("savedmodel", shape=found.shape, dtype=found.dtype, name=found.name)
    return Converted(observed, facts)
