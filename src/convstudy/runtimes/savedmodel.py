"""TF SavedModels in TensorFlow, through their ``serving_default`` signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convstudy.frameworks import Predict
from convstudy.spec import ModelSpec


def serving_input(artifact: Path) -> tuple[str, tuple[int | None, ...], str]:
    """(name, shape, numpy dtype name) of the one input of the serving signature."""
    import tensorflow as tf

    serving = tf.saved_model.load(str(artifact)).signatures["serving_default"]
    ((name, tensor_spec),) = serving.structured_input_signature[1].items()
    return name, tuple(tensor_spec.shape.as_list()), tensor_spec.dtype.as_numpy_dtype.__name__


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
    """Load the SavedModel; return its serving signature as a batch function."""
    import tensorflow as tf

    from convstudy.frameworks import adapter

    adapter("keras").limit_threads(threads)
    loaded = tf.saved_model.load(str(artifact))
    serving = loaded.signatures["serving_default"]
    ((name, tensor_spec),) = serving.structured_input_signature[1].items()
    (output,) = list(serving.structured_outputs)[:1]

    def predict(x: np.ndarray) -> np.ndarray:
        # The signature holds no reference to its object: keep ``loaded`` alive with it.
        assert loaded is not None
        return np.asarray(serving(**{name: tf.constant(x, dtype=tensor_spec.dtype)})[output])

    return predict
