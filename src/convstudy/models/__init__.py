"""The models of the study, each defined identically in PyTorch and Keras.

``build(name, framework, ...)`` returns an untrained model; ``torch_to_keras`` copies a
torch model's weights into its Keras twin, proving both compute the same function, and
``keras_to_torch`` copies them back.
Importing this package imports neither torch nor TensorFlow: the builders do, on use.

Layer names: torch module paths (``conv1``, ``layer2.0.shortcut_conv``, ``conv3_2``,
``lstm``, ``fc``); the Keras layer of the same weights is named with "." -> "_".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from convstudy import registry
from convstudy.errors import ConfigError
from convstudy.models.transfer import keras_to_torch, torch_to_keras
from convstudy.spec import InputLayout, ModelSpec

__all__ = [
    "FRAMEWORKS",
    "MODELS",
    "ArchError",
    "InputLayout",
    "build",
    "count_parameters",
    "input_layout",
    "is_recurrent",
    "keras_to_torch",
    "model_spec",
    "resolve_arch",
    "source_weights",
    "to_framework_input",
    "torch_to_keras",
]

MODELS: tuple[str, ...] = tuple(registry.MODELS)
FRAMEWORKS: tuple[str, ...] = tuple(registry.FRAMEWORKS)

#: Architecture keys of the text models; ``None`` marks a required key.
_TEXT_ARCH: dict[str, int | None] = {"vocab_size": None, "embed_dim": 128, "hidden": 128}
#: Architecture keys of the image models: the CIFAR networks' first width (64 published);
#: the ImageNet architectures' definition (:mod:`convstudy.models.applications`: 0 Keras
#: applications', both frameworks; 1 torchvision's, PyTorch only).
_IMAGE_ARCH: dict[str, dict[str, int | None]] = {
    "resnet18": {"width": 64},
    "vgg16": {"width": 64},
    "mobilenetv2": {"torchvision": 0},
    "resnet101": {"torchvision": 0},
    "inceptionv3": {"torchvision": 0},
}
#: Arch keys that are flags (0 or 1) rather than sizes.
_FLAGS = ("torchvision",)
#: Optional keys taking a number in (0, 1), per model; absent unless given. ``bn_momentum``:
#: the BatchNorm moving-average momentum, Keras's spelling (torch's is 1 - it), instead of
#: the definition's own (MobileNetV2 0.999, ResNet-101 and InceptionV3 0.99): a training
#: setting that changes nothing a trained model computes, for short training runs whose few
#: steps would otherwise leave the moving statistics near their initial values.
_FRACTIONS: dict[str, tuple[str, ...]] = {
    "mobilenetv2": ("bn_momentum",),
    "resnet101": ("bn_momentum",),
    "inceptionv3": ("bn_momentum",),
}


class ArchError(ConfigError, ValueError):
    """An invalid model name, framework, input shape or ``arch`` key (named in the message)."""


def _check_framework(framework: str) -> None:
    if framework not in registry.FRAMEWORKS:
        raise ArchError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


def _check(name: str, framework: str | None = None) -> None:
    if name not in registry.MODELS:
        raise ArchError(f"unknown model {name!r}; expected one of {MODELS}")
    if framework is not None:
        _check_framework(framework)


def is_recurrent(name: str) -> bool:
    """Whether ``name`` is a text model taking token ids (LSTM, GRU)."""
    _check(name)
    return registry.model(name).kind == "text"


def input_layout(name: str, framework: str) -> InputLayout:
    """Input layout of model ``name`` as built in ``framework``."""
    _check(name, framework)
    if is_recurrent(name):
        return InputLayout(axes="NL", dtype="int32", scale=None)
    return InputLayout(axes=registry.framework(framework).image_axes, dtype="float32", scale=255.0)


def to_framework_input(x: np.ndarray, name: str, framework: str) -> np.ndarray:
    """Turn a framework-neutral batch into model ``name``'s input in ``framework``.

    Args:
        x: images as uint8 (N, H, W, C), or integer token ids (N, seq_len).

    Returns:
        float32 images in [0, 1] (NCHW for torch, NHWC for Keras), or int32 token ids.
    """
    _check(name, framework)
    try:
        return input_layout(name, framework).prepare(x)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def resolve_arch(name: str, arch: Mapping[str, Any] | None) -> dict[str, Any]:
    """``arch`` checked against model ``name``'s keys, with defaults filled in."""
    given = dict(arch or {})
    allowed = _TEXT_ARCH if is_recurrent(name) else _IMAGE_ARCH.get(name, {})
    fractions = () if is_recurrent(name) else _FRACTIONS.get(name, ())
    for key in given:
        if key not in allowed and key not in fractions:
            known = sorted([*allowed, *fractions])
            raise ArchError(f"unknown arch key {key!r} for {name}; allowed: {known}")
    resolved: dict[str, Any] = {}
    for key, default in allowed.items():
        value = given.get(key, default)
        if value is None:
            raise ArchError(f"arch key {key!r} is required for {name}")
        if key in _FLAGS:
            if isinstance(value, bool) or value not in (0, 1):
                raise ArchError(f"arch key {key!r} must be 0 or 1, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ArchError(f"arch key {key!r} must be a positive integer, got {value!r}")
        resolved[key] = int(value)
    for key in fractions:
        if key not in given:
            continue
        value = given[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ArchError(f"arch key {key!r} must be a number in (0, 1), got {value!r}")
        resolved[key] = float(value)
    return resolved


def model_spec(
    model: str, framework: str, arrays: Mapping[str, np.ndarray], arch: Mapping[str, Any]
) -> ModelSpec:
    """The spec of a model of ``framework`` trained on the prepared ``arrays``."""
    dataset = registry.model(model).dataset
    text = is_recurrent(model)
    given = {**arch, "vocab_size": len(arrays["vocab"])} if text else dict(arch)
    return ModelSpec(
        model=model,
        dataset=dataset,
        format=framework,
        input_shape=tuple(int(d) for d in arrays["x_train"].shape[1:]),
        num_classes=registry.NUM_CLASSES[dataset],
        layout=input_layout(model, framework),
        arch=resolve_arch(model, given),
        vocab=tuple(str(w) for w in arrays["vocab"]) if text else None,
    )


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

    Each model module defines ``build_<framework>(input_shape, num_classes, **options,
    **arch)``; this checks the arguments and calls the one of ``framework``.

    Args:
        name: one of :data:`MODELS`.
        framework: one of :data:`FRAMEWORKS`.
        input_shape: without batch: images (H, W, C), text (seq_len,).
        num_classes: width of the final (logits) layer.
        arch: text models: ``vocab_size`` (required), ``embed_dim`` (128), ``hidden``
            (128); ResNet-18 and VGG-16: ``width`` (64, the published networks);
            MobileNetV2, ResNet-101, InceptionV3: ``torchvision`` (0: Keras applications'
            definition; 1: torchvision's, PyTorch only) and, optionally, ``bn_momentum``
            (in (0, 1), Keras's spelling; the definition's own when absent).
        unroll: text models only: build the recurrence unrolled (Keras 3 LSTM/GRU convert
            to CoreML only so; the same function with the same weights).

    Raises:
        ArchError: (a ``ValueError``) for an unknown name, framework or ``arch`` key, or a
            malformed ``input_shape``.
    """
    _check(name, framework)
    params = resolve_arch(name, arch)
    shape = _check_input_shape(name, input_shape)
    if num_classes < 1:
        raise ArchError(f"num_classes must be positive, got {num_classes}")
    entry = registry.model(name)
    builder = getattr(registry.module(entry.module), f"build_{framework}")
    extra = {"unroll": True} if unroll and is_recurrent(name) else {}
    return builder(shape, num_classes, **entry.options, **params, **extra)


def count_parameters(model: Any, framework: str) -> int:
    """Number of trainable parameters of a ``framework`` model."""
    _check_framework(framework)
    from convstudy.frameworks import adapter

    return adapter(framework).count_parameters(model)


def source_weights(model: Any, framework: str) -> dict[str, np.ndarray]:
    """Every weight of a ``framework`` model as float32 arrays, by the framework's names."""
    _check_framework(framework)
    from convstudy.frameworks import adapter

    return adapter(framework).weights(model)
