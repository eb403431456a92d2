"""ResNet-18, CIFAR variant (kuangliu/pytorch-cifar), in PyTorch and Keras.

Stem conv3x3(64) + BN + ReLU (no initial maxpool), four stages of two BasicBlocks
(64, 128, 256, 512 channels; strides 1, 2, 2, 2), global average pool, dense logits.
``width`` (arch key, default 64: the published network) sets the stem's channels; the
stages keep their 1:2:4:8 ratios (width 16: 16, 32, 64, 128 channels).

Parameterised layers carry the torch module path with "." replaced by "_" in Keras:
``conv1``/``bn1`` (stem), ``layer{s}.{b}.conv1|bn1|conv2|bn2`` and, where the shape
changes, ``layer{s}.{b}.shortcut_conv|shortcut_bn``; ``fc``. Keras-only helper layers are
named alike (``layer2_0_pad1``, ``layer1_0_add``, ``layer1_0_relu2``, ``avgpool``).

The torch classes need torch as their base class, so they are created on first use and
exposed as module attributes (``resnet18.ResNet18``) so that pickling a model works.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras
    from torch import nn

STAGES: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (256, 2), (512, 2))
#: The published stem width; ``width`` scales every stage by ``width / WIDTH``.
WIDTH = 64


def stages(width: int = WIDTH) -> tuple[tuple[int, int], ...]:
    """(channels, stride) of each stage for stem width ``width``."""
    return tuple((channels * width // WIDTH, stride) for channels, stride in STAGES)


BLOCKS_PER_STAGE = 2
#: torch's BatchNorm2d defaults, spelled the Keras way (momentum = 1 - 0.1).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

_TORCH_CLASSES = ("BasicBlock", "ResNet18")


@functools.cache
def _torch_classes() -> dict[str, type]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class BasicBlock(nn.Module):
        """Two 3x3 conv-BN pairs plus a (projected when needed) shortcut."""

        def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_ch)
            self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_ch)
            self.shortcut_conv: nn.Module | None = None
            self.shortcut_bn: nn.Module | None = None
            if stride != 1 or in_ch != out_ch:
                self.shortcut_conv = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)
                self.shortcut_bn = nn.BatchNorm2d(out_ch)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x
            if self.shortcut_conv is not None and self.shortcut_bn is not None:
                shortcut = self.shortcut_bn(self.shortcut_conv(x))
            return F.relu(out + shortcut)

    class ResNet18(nn.Module):
        """CIFAR ResNet-18 taking NCHW float32 input and returning logits."""

        def __init__(self, in_channels: int, num_classes: int, width: int = WIDTH) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            in_ch = width
            for s, (channels, stride) in enumerate(stages(width), start=1):
                blocks = []
                for b in range(BLOCKS_PER_STAGE):
                    blocks.append(BasicBlock(in_ch, channels, stride if b == 0 else 1))
                    in_ch = channels
                self.add_module(f"layer{s}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_ch, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = F.relu(self.bn1(self.conv1(x)))
            for s in range(1, len(STAGES) + 1):
                out = getattr(self, f"layer{s}")(out)
            return self.fc(torch.flatten(self.avgpool(out), 1))

    classes: dict[str, type] = {"BasicBlock": BasicBlock, "ResNet18": ResNet18}
    for cls_name, cls in classes.items():
        cls.__module__ = __name__
        cls.__qualname__ = cls_name
    return classes


def __getattr__(name: str) -> Any:
    if name in _TORCH_CLASSES:
        return _torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_torch(
    input_shape: tuple[int, int, int], num_classes: int, width: int = WIDTH
) -> nn.Module:
    """ResNet-18 (CIFAR) as a torch module taking NCHW float32 input."""
    module: nn.Module = _torch_classes()["ResNet18"](input_shape[2], num_classes, width)
    return module


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, conv: str, bn: str) -> Any:
    """Conv (no bias) + BN with torch's padding semantics, named ``conv`` and ``bn``."""
    from keras import layers

    padding = "same"
    if kernel == 3 and stride != 1:
        # Keras "same" pads stride-2 convs asymmetrically (0 before, 1 after); torch pads
        # 1 on both sides, so pad explicitly and use "valid" to compute the same function.
        x = layers.ZeroPadding2D(1, name=conv.replace("conv", "pad"))(x)
        padding = "valid"
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=conv)(
        x
    )
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=bn)(x)


def _basic_block(x: Any, in_ch: int, out_ch: int, stride: int, prefix: str) -> Any:
    from keras import layers

    out = _conv_bn(x, out_ch, 3, stride, f"{prefix}_conv1", f"{prefix}_bn1")
    out = layers.ReLU(name=f"{prefix}_relu1")(out)
    out = _conv_bn(out, out_ch, 3, 1, f"{prefix}_conv2", f"{prefix}_bn2")
    shortcut = x
    if stride != 1 or in_ch != out_ch:
        shortcut = _conv_bn(
            x, out_ch, 1, stride, f"{prefix}_shortcut_conv", f"{prefix}_shortcut_bn"
        )
    out = layers.Add(name=f"{prefix}_add")([out, shortcut])
    return layers.ReLU(name=f"{prefix}_relu2")(out)


def build_keras(
    input_shape: tuple[int, int, int], num_classes: int, width: int = WIDTH
) -> keras.Model:
    """ResNet-18 (CIFAR) as a functional ``keras.Model`` taking NHWC float32 input."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, dtype="float32", name="input")
    x = _conv_bn(inputs, width, 3, 1, "conv1", "bn1")
    x = layers.ReLU(name="relu1")(x)
    in_ch = width
    for s, (channels, stride) in enumerate(stages(width), start=1):
        for b in range(BLOCKS_PER_STAGE):
            x = _basic_block(x, in_ch, channels, stride if b == 0 else 1, f"layer{s}_{b}")
            in_ch = channels
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name="resnet18")
