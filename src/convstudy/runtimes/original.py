"""The original model in its own framework (PyTorch or Keras)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import checkpoints


def load(
    path: Path,
    *,
    model_name: str,
    framework: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    arch: Mapping[str, Any],
    threads: int,
) -> Callable[[np.ndarray], np.ndarray]:
    """Load the trained model; return its batch prediction function."""
    model = checkpoints.load(
        path,
        name=model_name,
        framework=framework,
        input_shape=input_shape,
        num_classes=num_classes,
        arch=arch,
    )
    if framework == "torch":
        import torch

        def predict_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(x)).numpy()

        return predict_torch

    import tensorflow as tf

    # A traced inference function: model.predict adds per-call overhead that would be
    # measured as inference time but is not the model's.
    function = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict_keras(x: np.ndarray) -> np.ndarray:
        return function(tf.constant(x)).numpy()

    return predict_keras
