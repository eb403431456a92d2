"""MobileNetV2 (Sandler et al., 2018) at its published width (alpha 1.0), in PyTorch and Keras.

Keras: ``keras.applications.MobileNetV2(weights=None, include_top=True,
classifier_activation=None)`` behind a ``preprocess`` layer (:mod:`.applications`: [0, 1] ->
[-1, 1], the family's ``preprocess_input``). Stem conv3x3/2 (32) + BN + ReLU6, 17 inverted
residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear projection; a residual add where
the shape is kept), conv1x1 (1280) + BN + ReLU6, global average pool, dense logits.

The PyTorch twin has the same layers under the same names (the Keras layer name is the torch
module path with "." -> "_": ``Conv1``, ``bn_Conv1``, ``expanded_conv.depthwise``,
``block_1.expand_BN``, ``Conv_1``, ``predictions``) and computes the same function: BN
epsilon 1e-3, Keras momentum 0.999, ReLU6, and Keras's "same" padding of the stride-2
convolutions (the stem's and the depthwise ones of blocks 1, 3, 6 and 13) as explicit
``ZeroPad2d`` modules (``Conv1_pad``, ``block_{i}.pad``): on an even size Keras pads one row
and column after and none before, where PyTorch's ``padding=1`` pads both sides.

``torchvision=1`` is torchvision's definition (PyTorch only, the layers of torchvision's weights):
symmetric padding of the stride-2 convolutions, BN epsilon 1e-5 and momentum 0.1,
torchvision's normalisation, dropout 0.2 before the classifier.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from convstudy.models import applications as apps

if TYPE_CHECKING:
    import keras
    import torch
    from torch import nn

NAME = "mobilenetv2"
#: (filters, stride, expansion) of blocks 0-16 (Keras's ``_inverted_res_block`` calls).
BLOCKS: tuple[tuple[int, int, int], ...] = (
    (16, 1, 1),
    (24, 2, 6),
    (24, 1, 6),
    (32, 2, 6),
    (32, 1, 6),
    (32, 1, 6),
    (64, 2, 6),
    (64, 1, 6),
    (64, 1, 6),
    (64, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (160, 2, 6),
    (160, 1, 6),
    (160, 1, 6),
    (320, 1, 6),
)
STEM, LAST = 32, 1280
#: Keras's BN settings, and torchvision's spelled the Keras way (momentum = 1 - 0.1).
BN = apps.BNSettings(epsilon=1e-3, momentum=0.999)
BN_TORCHVISION = apps.BNSettings(epsilon=1e-5, momentum=0.9)
MIN_SIZE = 32
#: torchvision's dropout before the classifier (its definition only).
DROPOUT_TORCHVISION = 0.2


def block_prefix(block_id: int) -> str:
    """Keras's name prefix of block ``block_id`` (the first block has no expansion)."""
    return f"block_{block_id}" if block_id else "expanded_conv"


def _pad(size: tuple[int, int], torchvision: bool) -> tuple[int, int, int, int]:
    """``ZeroPad2d`` (left, right, top, bottom) before a stride-2 3x3 convolution."""
    if torchvision:
        return (1, 1, 1, 1)
    top, bottom = apps.same_padding(size[0], 3, 2)
    left, right = apps.same_padding(size[1], 3, 2)
    return (left, right, top, bottom)


_TORCH_CLASSES = ("InvertedResidual", "MobileNetV2")


@functools.cache
def _torch_classes() -> dict[str, type]:
    from torch import nn

    class InvertedResidual(nn.Module):
        """[1x1 expand + BN + ReLU6] -> [pad] 3x3 depthwise + BN + ReLU6 -> 1x1 project + BN,
        plus the input where the shape is kept."""

        def __init__(
            self,
            in_ch: int,
            filters: int,
            stride: int,
            expansion: int,
            size: tuple[int, int],
            torchvision: bool,
            bn: apps.BNSettings,
        ) -> None:
            super().__init__()
            hidden = in_ch * expansion
            self.expand: nn.Module | None = None
            if expansion != 1:
                self.expand = nn.Conv2d(in_ch, hidden, 1, bias=False)
                self.expand_BN = apps.batch_norm(hidden, bn)
                self.expand_relu = nn.ReLU6()
            self.pad: nn.Module | None = None
            if stride == 2:
                self.pad = nn.ZeroPad2d(_pad(size, torchvision))
            self.depthwise = nn.Conv2d(
                hidden,
                hidden,
                3,
                stride,
                padding=1 if stride == 1 else 0,
                groups=hidden,
                bias=False,
            )
            self.depthwise_BN = apps.batch_norm(hidden, bn)
            self.depthwise_relu = nn.ReLU6()
            self.project = nn.Conv2d(hidden, filters, 1, bias=False)
            self.project_BN = apps.batch_norm(filters, bn)
            self.residual = in_ch == filters and stride == 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = x
            if self.expand is not None:
                out = self.expand_relu(self.expand_BN(self.expand(out)))
            if self.pad is not None:
                out = self.pad(out)
            out = self.depthwise_relu(self.depthwise_BN(self.depthwise(out)))
            out = self.project_BN(self.project(out))
            return x + out if self.residual else out

    class MobileNetV2(nn.Module):
        """MobileNetV2 taking NCHW float32 RGB in [0, 1] and returning logits."""

        def __init__(
            self,
            input_shape: tuple[int, int, int],
            num_classes: int,
            torchvision: int,
            bn_momentum: float | None,
        ) -> None:
            super().__init__()
            tv = bool(torchvision)
            bn = apps.bn_settings(BN_TORCHVISION if tv else BN, bn_momentum)
            size = input_shape[:2]
            self.preprocess = apps.rescale("torch" if tv else "tf")
            self.Conv1_pad = nn.ZeroPad2d(_pad(size, tv))
            self.Conv1 = nn.Conv2d(input_shape[2], STEM, 3, 2, bias=False)
            self.bn_Conv1 = apps.batch_norm(STEM, bn)
            self.Conv1_relu = nn.ReLU6()
            size = (-(-size[0] // 2), -(-size[1] // 2))
            in_ch = STEM
            for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
                block = InvertedResidual(in_ch, filters, stride, expansion, size, tv, bn)
                self.add_module(block_prefix(block_id), block)
                size = (-(-size[0] // stride), -(-size[1] // stride))
                in_ch = filters
            self.Conv_1 = nn.Conv2d(in_ch, LAST, 1, bias=False)
            self.Conv_1_bn = apps.batch_norm(LAST, bn)
            self.out_relu = nn.ReLU6()
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(DROPOUT_TORCHVISION) if tv else nn.Identity()
            self.predictions = nn.Linear(LAST, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            import torch

            x = self.preprocess(x)
            x = self.Conv1_relu(self.bn_Conv1(self.Conv1(self.Conv1_pad(x))))
            for block_id in range(len(BLOCKS)):
                x = getattr(self, block_prefix(block_id))(x)
            x = self.out_relu(self.Conv_1_bn(self.Conv_1(x)))
            x = torch.flatten(self.avg_pool(x), 1)
            return self.predictions(self.dropout(x))

    classes: dict[str, type] = {"InvertedResidual": InvertedResidual, "MobileNetV2": MobileNetV2}
    for cls_name, cls in classes.items():
        cls.__module__ = __name__
        cls.__qualname__ = cls_name
    return classes


def __getattr__(name: str) -> Any:
    if name in _TORCH_CLASSES:
        return _torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_torch(
    input_shape: tuple[int, int, int],
    num_classes: int,
    torchvision: int = 0,
    bn_momentum: float | None = None,
) -> nn.Module:
    """MobileNetV2 as a torch module taking NCHW float32 input."""
    apps.check_definition(NAME, "torch", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    module: nn.Module = _torch_classes()["MobileNetV2"](
        input_shape, num_classes, torchvision, bn_momentum
    )
    return module


def build_keras(
    input_shape: tuple[int, int, int],
    num_classes: int,
    torchvision: int = 0,
    bn_momentum: float | None = None,
) -> keras.Model:
    """``keras.applications.MobileNetV2`` (untrained) taking NHWC float32 input in [0, 1]."""
    import keras

    apps.check_definition(NAME, "keras", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    inputs, x = apps.keras_input(input_shape, "tf")
    application = keras.applications.MobileNetV2(
        input_shape=input_shape,
        include_top=True,
        weights=None,
        input_tensor=x,
        classes=num_classes,
        classifier_activation=None,
    )
    return apps.set_bn_momentum(apps.study_model(inputs, application, NAME), bn_momentum)
