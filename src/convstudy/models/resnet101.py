"""ResNet-101 (He et al., 2016) at its published width, in PyTorch and Keras.

Keras: ``keras.applications.ResNet101(weights=None, include_top=True,
classifier_activation=None)`` behind a ``preprocess`` layer (:mod:`.applications`: the
"caffe" preprocessing, x * 255 - mean pixel). Stem: zero padding 3, conv7x7/2 (64) + BN +
ReLU, zero padding 1, maxpool 3x3/2; four stages of 3, 4, 23 and 3 bottleneck blocks (64,
128, 256, 512 bottleneck channels, 4x as many out); global average pool, dense logits.

Keras's ResNet is the original (Caffe) one: every convolution has a bias, BN epsilon is
1.001e-5 (Keras's default momentum 0.99), and a stage's stride 2 sits on the first block's
*1x1* convolution (and on its 1x1 projection shortcut); the 3x3 convolutions have stride 1
("same": one zero on each side, as in PyTorch).

The PyTorch twin has the same layers under the same names (the Keras layer name is the torch
module path with "." -> "_": ``conv1.conv`` is ``conv1_conv``, ``conv4.block23.2_bn`` is
``conv4_block23_2_bn``, ``predictions``) and computes the same function; the stem's paddings
are explicit ``ZeroPad2d`` modules (``conv1.pad``, ``pool1.pad``), as in Keras.

``torchvision=1`` is torchvision's definition (PyTorch only, the layers of torchvision's weights,
"ResNet v1.5"): convolutions without bias, the stride on the 3x3 convolution, BN epsilon 1e-5
and momentum 0.1, torchvision's normalisation. (torchvision pads its maxpool with -inf,
here with zeros as Keras does: after a ReLU the maximum is the same.)
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from convstudy.models import applications as apps

if TYPE_CHECKING:
    import keras
    import torch
    from torch import nn

NAME = "resnet101"
#: (Keras stage name, bottleneck channels, blocks, stride of the first block).
STAGES: tuple[tuple[str, int, int, int], ...] = (
    ("conv2", 64, 3, 1),
    ("conv3", 128, 4, 2),
    ("conv4", 256, 23, 2),
    ("conv5", 512, 3, 2),
)
STEM = 64
EXPANSION = 4
BN = apps.BNSettings(epsilon=1.001e-5, momentum=0.99)
BN_TORCHVISION = apps.BNSettings(epsilon=1e-5, momentum=0.9)
MIN_SIZE = 32

_TORCH_CLASSES = ("Bottleneck", "Stage", "Stem", "Pool", "ResNet101")


@functools.cache
def _torch_classes() -> dict[str, type]:
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        """1x1 -> 3x3 -> 1x1 (x4) convolutions with BN, plus the (projected) input, ReLU.
        Children are named as Keras's layers: ``0_conv``/``0_bn`` (projection),
        ``1_conv`` ... ``3_bn``."""

        def __init__(
            self,
            in_ch: int,
            filters: int,
            stride: int,
            project: bool,
            torchvision: bool,
            bn: apps.BNSettings,
        ) -> None:
            super().__init__()
            bias = not torchvision
            stride_1x1, stride_3x3 = (1, stride) if torchvision else (stride, 1)
            out_ch = EXPANSION * filters
            self.project = project
            if project:
                self.add_module("0_conv", nn.Conv2d(in_ch, out_ch, 1, stride, bias=bias))
                self.add_module("0_bn", apps.batch_norm(out_ch, bn))
            self.add_module("1_conv", nn.Conv2d(in_ch, filters, 1, stride_1x1, bias=bias))
            self.add_module("1_bn", apps.batch_norm(filters, bn))
            self.add_module("1_relu", nn.ReLU())
            self.add_module(
                "2_conv", nn.Conv2d(filters, filters, 3, stride_3x3, padding=1, bias=bias)
            )
            self.add_module("2_bn", apps.batch_norm(filters, bn))
            self.add_module("2_relu", nn.ReLU())
            self.add_module("3_conv", nn.Conv2d(filters, out_ch, 1, bias=bias))
            self.add_module("3_bn", apps.batch_norm(out_ch, bn))
            self.out = nn.ReLU()

        def _step(self, name: str, x: torch.Tensor) -> torch.Tensor:
            return self._modules[name](x)  # type: ignore[misc]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shortcut = x
            if self.project:
                shortcut = self._step("0_bn", self._step("0_conv", x))
            out = self._step("1_relu", self._step("1_bn", self._step("1_conv", x)))
            out = self._step("2_relu", self._step("2_bn", self._step("2_conv", out)))
            out = self._step("3_bn", self._step("3_conv", out))
            return self.out(shortcut + out)

    class Stage(nn.Module):
        """``block1`` (projected, strided) ... ``block{n}``."""

        def __init__(
            self,
            in_ch: int,
            filters: int,
            blocks: int,
            stride: int,
            torchvision: bool,
            bn: apps.BNSettings,
        ) -> None:
            super().__init__()
            self.blocks = blocks
            for b in range(1, blocks + 1):
                first = b == 1
                block = Bottleneck(in_ch, filters, stride if first else 1, first, torchvision, bn)
                self.add_module(f"block{b}", block)
                in_ch = EXPANSION * filters

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for b in range(1, self.blocks + 1):
                x = getattr(self, f"block{b}")(x)
            return x

    class Stem(nn.Module):
        """``conv1``: zero padding 3, conv7x7/2, BN, ReLU."""

        def __init__(self, in_ch: int, torchvision: bool, bn: apps.BNSettings) -> None:
            super().__init__()
            self.pad = nn.ZeroPad2d(3)
            self.conv = nn.Conv2d(in_ch, STEM, 7, 2, bias=not torchvision)
            self.bn = apps.batch_norm(STEM, bn)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.bn(self.conv(self.pad(x))))

    class Pool(nn.Module):
        """``pool1``: zero padding 1, maxpool 3x3/2."""

        def __init__(self) -> None:
            super().__init__()
            self.pad = nn.ZeroPad2d(1)
            self.pool = nn.MaxPool2d(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(self.pad(x))

    class ResNet101(nn.Module):
        """ResNet-101 taking NCHW float32 RGB in [0, 1] and returning logits."""

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
            self.preprocess = apps.rescale("torch" if tv else "caffe")
            self.conv1 = Stem(input_shape[2], tv, bn)
            self.pool1 = Pool()
            in_ch = STEM
            for name, filters, blocks, stride in STAGES:
                self.add_module(name, Stage(in_ch, filters, blocks, stride, tv, bn))
                in_ch = EXPANSION * filters
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.predictions = nn.Linear(in_ch, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool1(self.conv1(self.preprocess(x)))
            for name, *_ in STAGES:
                x = getattr(self, name)(x)
            return self.predictions(torch.flatten(self.avg_pool(x), 1))

    classes: dict[str, type] = {
        "Bottleneck": Bottleneck,
        "Stage": Stage,
        "Stem": Stem,
        "Pool": Pool,
        "ResNet101": ResNet101,
    }
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
    """ResNet-101 as a torch module taking NCHW float32 input."""
    apps.check_definition(NAME, "torch", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    module: nn.Module = _torch_classes()["ResNet101"](
        input_shape, num_classes, torchvision, bn_momentum
    )
    return module


def build_keras(
    input_shape: tuple[int, int, int],
    num_classes: int,
    torchvision: int = 0,
    bn_momentum: float | None = None,
) -> keras.Model:
    """``keras.applications.ResNet101`` (untrained) taking NHWC float32 input in [0, 1]."""
    import keras

    apps.check_definition(NAME, "keras", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    inputs, x = apps.keras_input(input_shape, "caffe")
    application = keras.applications.ResNet101(
        input_shape=input_shape,
        include_top=True,
        weights=None,
        input_tensor=x,
        classes=num_classes,
        classifier_activation=None,
    )
    return apps.set_bn_momentum(apps.study_model(inputs, application, NAME), bn_momentum)
