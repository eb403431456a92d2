"""What the ImageNet architectures of Louloudakis et al. (MobileNetV2, ResNet-101,
InceptionV3) share: Keras's "same" padding arithmetic, the preprocessing that is part of
each model, batch normalisation spelled both ways, and the Keras applications built offline
as study models.

Each architecture has two definitions (arch key ``torchvision``):

* 0, Keras applications' (the default, both frameworks): the Keras model *is*
  ``keras.applications.<Model>(weights=None, include_top=True, classifier_activation=None)``
  and the PyTorch twin computes the same function (same layers in the same order, Keras's
  asymmetric "same" padding as explicit ``ZeroPad2d`` modules, Keras's epsilons and
  momenta), so weights copy across both ways;
* 1, torchvision's (PyTorch only): the layers of torchvision's definition with its padding,
  epsilons and preprocessing, for torchvision's ImageNet weights brought as a checkpoint
  (``imported_models``; its module names follow the Keras layers, so a torchvision state
  dict needs its keys renamed first). The grid's published weights (``weights: imagenet``,
  :mod:`convstudy.models.published`) are Keras applications', in both frameworks.

Preprocessing: the study feeds RGB images as uint8 / 255 (:class:`~convstudy.spec.InputLayout`),
so each model starts with a ``preprocess`` layer (Keras ``Rescaling``, torch
:class:`Rescale`) that turns [0, 1] into what the family's published preprocessing gives
(``keras.applications.<family>.preprocess_input`` on 0-255 pixels, or torchvision's
normalisation): the same pixels reach the first convolution in every framework and in every
converted format, and published weights work without a separate step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras
    from torch import nn

#: Values of the ``torchvision`` arch key.
KERAS_DEFINITION, TORCHVISION_DEFINITION = 0, 1

#: Caffe's mean pixel (Keras's "caffe" preprocessing: ResNet) on the 0-255 scale, in RGB
#: order. Keras also reorders the channels to BGR; the study's models take RGB, so the
#: published Keras ResNet weights get their first convolution's input channels reversed
#: instead (:mod:`convstudy.models.published`), which computes the same function.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
#: torchvision's normalisation of RGB images in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Preprocessing modes: "tf" (Keras MobileNetV2, InceptionV3: x / 127.5 - 1 on 0-255 pixels),
#: "caffe" (Keras ResNet: x - mean pixel), "torch" (torchvision: (x - mean) / std on [0, 1]).
PREPROCESSING = ("tf", "caffe", "torch")


@dataclass(frozen=True)
class BNSettings:
    """A definition's batch normalisation: epsilon and the moving-average momentum, Keras's
    spelling (torch's ``momentum`` is 1 - it)."""

    epsilon: float
    momentum: float


def preprocessing(mode: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(scale, offset) per RGB channel mapping an image in [0, 1] to ``mode``'s input."""
    if mode == "tf":
        return (2.0,) * 3, (-1.0,) * 3
    if mode == "caffe":
        return (255.0,) * 3, tuple(-m for m in CAFFE_MEAN_RGB)
    if mode == "torch":
        return (
            tuple(1.0 / s for s in IMAGENET_STD),
            tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)),
        )
    raise ValueError(f"unknown preprocessing {mode!r}; expected one of {PREPROCESSING}")


def check_definition(name: str, framework: str, torchvision: int) -> None:
    """Raise ValueError for an unknown definition, or torchvision's outside PyTorch."""
    if torchvision not in (KERAS_DEFINITION, TORCHVISION_DEFINITION):
        raise ValueError(f"{name}: arch key 'torchvision' must be 0 or 1, got {torchvision}")
    if torchvision and framework != "torch":
        raise ValueError(f"{name}: torchvision's definition exists in PyTorch only")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zeros that Keras's (TensorFlow's) "same" padding adds on an axis of
    ``size``: the odd one goes after, so a stride-2 3x3 convolution of an even size pads
    (0, 1) where PyTorch's ``padding=1`` pads (1, 1)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_size(size: int, kernel: int, stride: int, pad: tuple[int, int] = (0, 0)) -> int:
    """Output size on one axis of a convolution or pooling window."""
    return (size + pad[0] + pad[1] - kernel) // stride + 1


def check_size(name: str, input_shape: Sequence[int], minimum: int) -> None:
    """Raise ValueError when the image is smaller than ``minimum`` on a side or not RGB."""
    h, w, c = input_shape
    if min(h, w) < minimum:
        raise ValueError(f"{name} needs images of at least {minimum}x{minimum}, got {h}x{w}")
    if c != 3:
        raise ValueError(f"{name} takes RGB images (3 channels), got {c}")


# ---- PyTorch


_TORCH_CLASSES = ("Rescale",)


@functools.cache
def _torch_classes() -> dict[str, type]:
    import torch
    from torch import nn

    class Rescale(nn.Module):
        """``x * scale + offset`` per channel (NCHW): Keras's ``Rescaling``."""

        scale: torch.Tensor
        offset: torch.Tensor

        def __init__(self, scale: Sequence[float], offset: Sequence[float]) -> None:
            super().__init__()
            shape = (1, len(scale), 1, 1)
            # Constants of the architecture, not weights: kept out of the state_dict.
            self.register_buffer(
                "scale", torch.tensor(scale, dtype=torch.float32).reshape(shape), persistent=False
            )
            self.register_buffer(
                "offset",
                torch.tensor(offset, dtype=torch.float32).reshape(shape),
                persistent=False,
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale + self.offset

    classes: dict[str, type] = {"Rescale": Rescale}
    for cls_name, cls in classes.items():
        cls.__module__ = __name__
        cls.__qualname__ = cls_name
    return classes


def __getattr__(name: str) -> Any:
    if name in _TORCH_CLASSES:
        return _torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rescale(mode: str) -> nn.Module:
    """The torch ``preprocess`` module of preprocessing ``mode``."""
    module: nn.Module = _torch_classes()["Rescale"](*preprocessing(mode))
    return module


def batch_norm(channels: int, settings: BNSettings, *, scale: bool = True) -> nn.Module:
    """``BatchNorm2d`` with ``settings`` (torch's momentum is 1 - Keras's).

    ``scale=False`` is Keras's BatchNormalization without gamma: torch's weight stays
    at one and is not trained (InceptionV3).
    """
    from torch import nn

    bn = nn.BatchNorm2d(channels, eps=settings.epsilon, momentum=1.0 - settings.momentum)
    if not scale:
        bn.weight.requires_grad_(False)
    return bn


def bn_settings(own: BNSettings, bn_momentum: float | None) -> BNSettings:
    """A definition's BN settings, the momentum replaced by the ``bn_momentum`` arch key
    when given (a training setting: what a trained model computes is unchanged)."""
    return own if bn_momentum is None else dataclasses.replace(own, momentum=bn_momentum)


# ---- Keras


def set_bn_momentum(model: keras.Model, bn_momentum: float | None) -> keras.Model:
    """Give every BatchNormalization layer of ``model`` the momentum ``bn_momentum`` (kept
    in the saved config); ``None`` keeps the application's own."""
    from keras import layers

    if bn_momentum is not None:
        for layer in model.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = bn_momentum
    return model


def keras_input(input_shape: tuple[int, int, int], mode: str) -> tuple[Any, Any]:
    """The model's input (NHWC float32 in [0, 1], named ``input``) and its ``preprocess``
    layer's output."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, dtype="float32", name="input")
    scale, offset = preprocessing(mode)
    x = layers.Rescaling(scale=list(scale), offset=list(offset), name="preprocess")(inputs)
    return inputs, x


def study_model(inputs: Any, application: keras.Model, name: str) -> keras.Model:
    """A Keras application built on ``inputs`` (through ``input_tensor``) as a model with
    one input tensor (an application built so lists its inputs) named ``name``."""
    import keras

    return keras.Model(inputs, application.outputs[0], name=name)
