"""The models of the study, each defined identically in PyTorch and Keras.

``build(name, framework, ...)`` returns an untrained model; ``torch_to_keras`` copies a
torch model's weights into its Keras twin, proving both compute the same function.
Importing this package imports neither torch nor TensorFlow: the builders do, on use.

Layer names: torch module paths (``conv1``, ``layer2.0.shortcut_conv``, ``conv3_2``,
``lstm``, ``fc``); the Keras layer of the same weights is named with "." -> "_".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from convstudy.errors import ConfigError
from convstudy.models import lenet5, resnet18, rnn, vgg16
from convstudy.models.transfer import count_parameters, source_weights, torch_to_keras

__all__ = [
    "FRAMEWORKS",
    "MODELS",
    "ArchError",
    "InputLayout",
    "build",
    "count_parameters",
    "input_layout",
    "is_recurrent",
    "source_weights",
    "to_framework_input",
    "torch_to_keras",
]

MODELS: tuple[str, ...] = ("lenet5", "resnet18", "vgg16", "lstm", "gru")
FRAMEWORKS: tuple[str, ...] = ("torch", "keras")

_IMAGE_BUILDERS = {"lenet5": lenet5, "resnet18": resnet18, "vgg16": vgg16}
#: Architecture keys of the recurrent models; ``None`` marks a required key.
_RNN_ARCH: dict[str, int | None] = {"vocab_size": None, "embed_dim": 128, "hidden": 128}


class ArchError(ConfigError, ValueError):
    """An invalid model name, framework, input shape or ``arch`` key (named in the message)."""


@dataclass(frozen=True)
class InputLayout:
    """What a model takes as input.

    Attributes:
        axes: "NCHW" (torch images), "NHWC" (Keras images) or "NL" (token ids).
        dtype: numpy dtype name of the input, "float32" or "int32".
        scale: images are ``uint8 / scale`` (values in [0, 1]); ``None`` for tokens.
    """

    axes: str
    dtype: str
    scale: float | None

    def batch_shape(self, input_shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
        """Model input shape for a batch, from the framework-neutral ``input_shape``."""
        if self.axes == "NCHW":
            h, w, c = input_shape
            return (batch, c, h, w)
        return (batch, *input_shape)


def _check(name: str, framework: str | None = None) -> None:
    if name not in MODELS:
        raise ArchError(f"unknown model {name!r}; expected one of {MODELS}")
    if framework is not None and framework not in FRAMEWORKS:
        raise ArchError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


def is_recurrent(name: str) -> bool:
    """Whether ``name`` is a text model taking token ids (LSTM, GRU)."""
    _check(name)
    return name in rnn.KINDS


def input_layout(name: str, framework: str) -> InputLayout:
    """Input layout of model ``name`` in ``framework``."""
    _check(name, framework)
    if is_recurrent(name):
        return InputLayout(axes="NL", dtype="int32", scale=None)
    axes = "NCHW" if framework == "torch" else "NHWC"
    return InputLayout(axes=axes, dtype="float32", scale=255.0)


def to_framework_input(x: np.ndarray, name: str, framework: str) -> np.ndarray:
    """Turn a framework-neutral batch into model ``name``'s input in ``framework``.

    Args:
        x: images as uint8 (N, H, W, C), or integer token ids (N, seq_len).

    Returns:
        float32 images in [0, 1] (NCHW for torch, NHWC for Keras), or int32 token ids.
    """
    layout = input_layout(name, framework)
    x = np.asarray(x)
    if layout.scale is None:
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(
                f"{name} expects integer token ids (N, seq_len), got {x.dtype} {x.shape}"
            )
        if x.size and (x.min() < 0 or x.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{name}: token ids out of int32 range")
        return x.astype(np.int32)
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ValueError(f"{name} expects uint8 images (N, H, W, C), got {x.dtype} {x.shape}")
    images = x.astype(np.float32) / np.float32(layout.scale)
    if layout.axes == "NCHW":
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return images


def _resolve_arch(name: str, arch: Mapping[str, Any] | None) -> dict[str, int]:
    given = dict(arch or {})
    allowed = _RNN_ARCH if is_recurrent(name) else {}
    for key in given:
        if key not in allowed:
            raise ArchError(f"unknown arch key {key!r} for {name}; allowed: {sorted(allowed)}")
    resolved: dict[str, int] = {}
    for key, default in allowed.items():
        value = given.get(key, default)
        if value is None:
            raise ArchError(f"arch key {key!r} is required for {name}")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ArchError(f"arch key {key!r} must be a positive integer, got {value!r}")
        resolved[key] = int(value)
    return resolved


def _check_input_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in input_shape)
    rank = 1 if is_recurrent(name) else 3
    if len(shape) != rank or min(shape) < 1:
        want = "(seq_len,)" if rank == 1 else "(H, W, C)"
        raise ArchError(f"{name} input_shape must be {want} without batch, got {input_shape}")
    return shape


def build(
    name: str,
    framework: str,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    arch: Mapping[str, Any] | None = None,
    unroll: bool = False,
) -> Any:
    """Build an untrained model (``torch.nn.Module`` or ``keras.Model``) returning logits.

    Args:
        name: one of :data:`MODELS`.
        framework: "torch" or "keras".
        input_shape: without batch: images (H, W, C), text (seq_len,).
        num_classes: width of the final (logits) layer.
        arch: recurrent models only: ``vocab_size`` (required), ``embed_dim`` (128),
            ``hidden`` (128).
        unroll: Keras recurrent models only: build unrolled (needed for CoreML).

    Raises:
        ArchError: (a ``ValueError``) for an unknown name, framework or ``arch`` key, or a
            malformed ``input_shape``.
    """
    _check(name, framework)
    params = _resolve_arch(name, arch)
    shape = _check_input_shape(name, input_shape)
    if num_classes < 1:
        raise ArchError(f"num_classes must be positive, got {num_classes}")
    if is_recurrent(name):
        kind = cast(rnn.RNNKind, name)
        if framework == "torch":
            return rnn.build_torch(kind, num_classes=num_classes, **params)
        return rnn.build_keras(
            kind, seq_len=shape[0], num_classes=num_classes, unroll=unroll, **params
        )
    family = _IMAGE_BUILDERS[name]
    hwc = (shape[0], shape[1], shape[2])
    if framework == "torch":
        return family.build_torch(hwc, num_classes)
    return family.build_keras(hwc, num_classes)
