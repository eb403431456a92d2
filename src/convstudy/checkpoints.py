"""Saving and loading trained models in each framework's own format.

PyTorch models are saved as a ``state_dict`` (``model.torch``) and rebuilt from the
architecture code; Keras models as a ``.keras`` archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models


def save(model: Any, framework: str, path: str | Path) -> None:
    """Save a trained ``model`` of ``framework`` to ``path``."""
    if framework == "torch":
        import torch

        torch.save(model.state_dict(), path)
    else:
        model.save(path)


def load(
    path: str | Path,
    *,
    name: str,
    framework: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    arch: Mapping[str, Any],
    unroll: bool = False,
) -> Any:
    """Load a model saved by :func:`save`, in inference mode.

    Args:
        unroll: Keras only: rebuild recurrent layers unrolled and copy the weights in
            (Keras 3 LSTM/GRU convert to CoreML only when unrolled; same function).
    """
    if framework == "torch":
        import torch

        model = models.build(
            name, "torch", input_shape=input_shape, num_classes=num_classes, arch=arch
        )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    import keras

    model = keras.models.load_model(path, compile=False)
    if unroll and models.is_recurrent(name):
        unrolled = models.build(
            name, "keras", input_shape=input_shape, num_classes=num_classes, arch=arch, unroll=True
        )
        unrolled.set_weights(model.get_weights())
        return unrolled
    return model


def arch_for(
    model_name: str, hyper_arch: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """The model's architecture settings; text models take their vocabulary size from the data."""
    arch = dict(hyper_arch)
    if models.is_recurrent(model_name):
        arch["vocab_size"] = len(arrays["vocab"])
    return arch
