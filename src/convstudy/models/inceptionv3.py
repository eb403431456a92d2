"""InceptionV3 (Szegedy et al., 2016) at its published width, in PyTorch and Keras.

Keras: ``keras.applications.InceptionV3(weights=None, include_top=True,
classifier_activation=None)`` behind a ``preprocess`` layer (:mod:`.applications`: [0, 1] ->
[-1, 1], the family's ``preprocess_input``), without the auxiliary classifier (Keras has
none). Stem of five conv-BN-ReLU units and two 3x3/2 maxpools; eleven inception blocks of
concatenated branches (``Mixed_5b``-``5d``: 5x5 and double 3x3; ``6a``: grid reduction;
``6b``-``6e``: 7x7 factorised into 1x7 and 7x1; ``7a``: reduction; ``7b``, ``7c``: 3x3 split
into parallel 1x3 and 3x1, concatenated); global average pool, dense logits. Every
convolution has no bias and is followed by BN without scale (``scale=False``, epsilon 1e-3,
Keras's default momentum 0.99) and ReLU; stride-2 convolutions and maxpools are "valid", the
others "same" (for the 1x7 kernels: three zeros left and right, none above and below). The
3x3 average pools of the branches are "same" and, in Keras, average over the image pixels
only (PyTorch's ``count_include_pad=False``).

Layer names: torchvision's module paths (``Conv2d_1a_3x3.conv``, ``Mixed_6b.branch7x7dbl_3.bn``,
``Mixed_5b.avgpool``) in PyTorch; in Keras the same with "." -> "_". Keras's InceptionV3
names its layers by a per-process counter (``conv2d_94`` in the second model built), so the
built application is cloned with these names, checking on the way that its convolutions
come in the order and with the kernels, strides and paddings of :data:`BLOCKS`. Its
concatenations keep Keras's names (``mixed0``-``mixed10``, ``mixed9_0``, ``mixed9_1``).

``torchvision=1`` is torchvision's definition (PyTorch only, the layers of torchvision's
weights): BN with a trained scale and momentum 0.1, average pools counting the padding zeros, dropout 0.5
before the classifier (torchvision's ``transform_input`` of its published model maps its
normalised input to the same [-1, 1] as Keras's preprocessing; its auxiliary classifier
acts in training only and is left out).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convstudy.models import applications as apps

if TYPE_CHECKING:
    import keras
    import torch
    from torch import nn

NAME = "inceptionv3"
MIN_SIZE = 75
BN = apps.BNSettings(epsilon=1e-3, momentum=0.99)
BN_TORCHVISION = apps.BNSettings(epsilon=1e-3, momentum=0.9)
DROPOUT_TORCHVISION = 0.5
LAST = 2048


@dataclass(frozen=True)
class Conv:
    """One conv-BN-ReLU unit: its name, filters, kernel (rows, cols), stride, padding."""

    name: str
    filters: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: str = "same"


def _a(pool_features: int) -> tuple[Conv, ...]:
    return (
        Conv("branch1x1", 64, (1, 1)),
        Conv("branch5x5_1", 48, (1, 1)),
        Conv("branch5x5_2", 64, (5, 5)),
        Conv("branch3x3dbl_1", 64, (1, 1)),
        Conv("branch3x3dbl_2", 96, (3, 3)),
        Conv("branch3x3dbl_3", 96, (3, 3)),
        Conv("branch_pool", pool_features, (1, 1)),
    )


def _b() -> tuple[Conv, ...]:
    return (
        Conv("branch3x3", 384, (3, 3), 2, "valid"),
        Conv("branch3x3dbl_1", 64, (1, 1)),
        Conv("branch3x3dbl_2", 96, (3, 3)),
        Conv("branch3x3dbl_3", 96, (3, 3), 2, "valid"),
    )


def _c(c7: int) -> tuple[Conv, ...]:
    return (
        Conv("branch1x1", 192, (1, 1)),
        Conv("branch7x7_1", c7, (1, 1)),
        Conv("branch7x7_2", c7, (1, 7)),
        Conv("branch7x7_3", 192, (7, 1)),
        Conv("branch7x7dbl_1", c7, (1, 1)),
        Conv("branch7x7dbl_2", c7, (7, 1)),
        Conv("branch7x7dbl_3", c7, (1, 7)),
        Conv("branch7x7dbl_4", c7, (7, 1)),
        Conv("branch7x7dbl_5", 192, (1, 7)),
        Conv("branch_pool", 192, (1, 1)),
    )


def _d() -> tuple[Conv, ...]:
    return (
        Conv("branch3x3_1", 192, (1, 1)),
        Conv("branch3x3_2", 320, (3, 3), 2, "valid"),
        Conv("branch7x7x3_1", 192, (1, 1)),
        Conv("branch7x7x3_2", 192, (1, 7)),
        Conv("branch7x7x3_3", 192, (7, 1)),
        Conv("branch7x7x3_4", 192, (3, 3), 2, "valid"),
    )


def _e() -> tuple[Conv, ...]:
    return (
        Conv("branch1x1", 320, (1, 1)),
        Conv("branch3x3_1", 384, (1, 1)),
        Conv("branch3x3_2a", 384, (1, 3)),
        Conv("branch3x3_2b", 384, (3, 1)),
        Conv("branch3x3dbl_1", 448, (1, 1)),
        Conv("branch3x3dbl_2", 384, (3, 3)),
        Conv("branch3x3dbl_3a", 384, (1, 3)),
        Conv("branch3x3dbl_3b", 384, (3, 1)),
        Conv("branch_pool", 192, (1, 1)),
    )


#: The stem's units; ``maxpool1`` follows ``Conv2d_2b_3x3``, ``maxpool2`` ``Conv2d_4a_3x3``.
STEM: tuple[Conv, ...] = (
    Conv("Conv2d_1a_3x3", 32, (3, 3), 2, "valid"),
    Conv("Conv2d_2a_3x3", 32, (3, 3), 1, "valid"),
    Conv("Conv2d_2b_3x3", 64, (3, 3)),
    Conv("Conv2d_3b_1x1", 80, (1, 1), 1, "valid"),
    Conv("Conv2d_4a_3x3", 192, (3, 3), 1, "valid"),
)
#: (name, kind A-E, the units of its branches in Keras's order of creation).
BLOCKS: tuple[tuple[str, str, tuple[Conv, ...]], ...] = (
    ("Mixed_5b", "A", _a(32)),
    ("Mixed_5c", "A", _a(64)),
    ("Mixed_5d", "A", _a(64)),
    ("Mixed_6a", "B", _b()),
    ("Mixed_6b", "C", _c(128)),
    ("Mixed_6c", "C", _c(160)),
    ("Mixed_6d", "C", _c(160)),
    ("Mixed_6e", "C", _c(192)),
    ("Mixed_7a", "D", _d()),
    ("Mixed_7b", "E", _e()),
    ("Mixed_7c", "E", _e()),
)
#: Kinds whose pool branch is an average pool (the others: a 3x3/2 maxpool).
AVERAGE_POOL_KINDS = ("A", "C", "E")


def units() -> Iterator[tuple[str, Conv]]:
    """(module path prefix, unit) of every conv-BN-ReLU unit, in Keras's order of creation."""
    for unit in STEM:
        yield unit.name, unit
    for block, _, convs in BLOCKS:
        for unit in convs:
            yield f"{block}.{unit.name}", unit


def _torch_padding(unit: Conv) -> tuple[int, int]:
    if unit.padding == "valid":
        return (0, 0)
    # stride 1, odd kernels: Keras's "same" pads kernel // 2 on both sides of each axis
    return (unit.kernel[0] // 2, unit.kernel[1] // 2)


_TORCH_CLASSES = ("BasicConv2d", "InceptionBlock", "InceptionV3")


@functools.cache
def _torch_classes() -> dict[str, type]:
    import torch
    from torch import nn

    class BasicConv2d(nn.Module):
        """conv (no bias) + BN (``scale=False`` in Keras's definition) + ReLU."""

        def __init__(self, in_ch: int, unit: Conv, torchvision: bool, bn: apps.BNSettings) -> None:
            super().__init__()
            self.conv = nn.Conv2d(
                in_ch,
                unit.filters,
                unit.kernel,
                unit.stride,
                padding=_torch_padding(unit),
                bias=False,
            )
            self.bn = apps.batch_norm(unit.filters, bn, scale=torchvision)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.bn(self.conv(x)))

    class InceptionBlock(nn.Module):
        """One block of kind A-E: its branches concatenated along the channels."""

        def __init__(
            self,
            in_ch: int,
            kind: str,
            convs: tuple[Conv, ...],
            torchvision: bool,
            bn: apps.BNSettings,
        ) -> None:
            super().__init__()
            self.kind = kind
            # The input channels of each unit: a branch's first unit takes the block's input.
            chained = {
                "branch5x5_2": "branch5x5_1",
                "branch3x3dbl_2": "branch3x3dbl_1",
                "branch3x3dbl_3": "branch3x3dbl_2",
                "branch7x7_2": "branch7x7_1",
                "branch7x7_3": "branch7x7_2",
                "branch3x3_2": "branch3x3_1",
                "branch3x3_2a": "branch3x3_1",
                "branch3x3_2b": "branch3x3_1",
                "branch3x3dbl_3a": "branch3x3dbl_2",
                "branch3x3dbl_3b": "branch3x3dbl_2",
            }
            chained.update({f"branch7x7dbl_{i}": f"branch7x7dbl_{i - 1}" for i in range(2, 6)})
            chained.update({f"branch7x7x3_{i}": f"branch7x7x3_{i - 1}" for i in range(2, 5)})
            filters = {unit.name: unit.filters for unit in convs}
            for unit in convs:
                source = chained.get(unit.name)
                unit_in = filters[source] if source else in_ch
                if kind in AVERAGE_POOL_KINDS and unit.name == "branch_pool":
                    # Keras averages over the image pixels only; torchvision counts zeros.
                    self.avgpool = nn.AvgPool2d(3, 1, 1, count_include_pad=torchvision)
                self.add_module(unit.name, BasicConv2d(unit_in, unit, torchvision, bn))
            if kind not in AVERAGE_POOL_KINDS:
                self.pool = nn.MaxPool2d(3, 2)

        def _run(self, x: torch.Tensor, *names: str) -> torch.Tensor:
            for name in names:
                x = self._modules[name](x)  # type: ignore[misc]
            return x

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            kind, run = self.kind, self._run
            if kind == "A":
                outs = [
                    run(x, "branch1x1"),
                    run(x, "branch5x5_1", "branch5x5_2"),
                    run(x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
                    run(x, "avgpool", "branch_pool"),
                ]
            elif kind == "B":
                outs = [
                    run(x, "branch3x3"),
                    run(x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
                    self.pool(x),
                ]
            elif kind == "C":
                chain = [f"branch7x7dbl_{i}" for i in range(1, 6)]
                outs = [
                    run(x, "branch1x1"),
                    run(x, "branch7x7_1", "branch7x7_2", "branch7x7_3"),
                    run(x, *chain),
                    run(x, "avgpool", "branch_pool"),
                ]
            elif kind == "D":
                outs = [
                    run(x, "branch3x3_1", "branch3x3_2"),
                    run(x, *(f"branch7x7x3_{i}" for i in range(1, 5))),
                    self.pool(x),
                ]
            else:
                b3 = run(x, "branch3x3_1")
                dbl = run(x, "branch3x3dbl_1", "branch3x3dbl_2")
                outs = [
                    run(x, "branch1x1"),
                    torch.cat([run(b3, "branch3x3_2a"), run(b3, "branch3x3_2b")], 1),
                    torch.cat([run(dbl, "branch3x3dbl_3a"), run(dbl, "branch3x3dbl_3b")], 1),
                    run(x, "avgpool", "branch_pool"),
                ]
            return torch.cat(outs, 1)

    def out_channels(kind: str, convs: tuple[Conv, ...], in_ch: int) -> int:
        last = {
            "A": ("branch1x1", "branch5x5_2", "branch3x3dbl_3", "branch_pool"),
            "B": ("branch3x3", "branch3x3dbl_3"),
            "C": ("branch1x1", "branch7x7_3", "branch7x7dbl_5", "branch_pool"),
            "D": ("branch3x3_2", "branch7x7x3_4"),
            "E": (
                "branch1x1",
                "branch3x3_2a",
                "branch3x3_2b",
                "branch3x3dbl_3a",
                "branch3x3dbl_3b",
                "branch_pool",
            ),
        }[kind]
        filters = {unit.name: unit.filters for unit in convs}
        return sum(filters[name] for name in last) + (0 if kind in AVERAGE_POOL_KINDS else in_ch)

    class InceptionV3(nn.Module):
        """InceptionV3 taking NCHW float32 RGB in [0, 1] and returning logits."""

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
            self.preprocess = apps.rescale("tf")
            in_ch = input_shape[2]
            for unit in STEM:
                self.add_module(unit.name, BasicConv2d(in_ch, unit, tv, bn))
                in_ch = unit.filters
                if unit.name == "Conv2d_2b_3x3":
                    self.maxpool1 = nn.MaxPool2d(3, 2)
                if unit.name == "Conv2d_4a_3x3":
                    self.maxpool2 = nn.MaxPool2d(3, 2)
            for name, kind, convs in BLOCKS:
                self.add_module(name, InceptionBlock(in_ch, kind, convs, tv, bn))
                in_ch = out_channels(kind, convs, in_ch)
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(DROPOUT_TORCHVISION) if tv else nn.Identity()
            self.predictions = nn.Linear(in_ch, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.preprocess(x)
            for unit in STEM:
                x = getattr(self, unit.name)(x)
                if unit.name == "Conv2d_2b_3x3":
                    x = self.maxpool1(x)
                if unit.name == "Conv2d_4a_3x3":
                    x = self.maxpool2(x)
            for name, _, _ in BLOCKS:
                x = getattr(self, name)(x)
            x = torch.flatten(self.avg_pool(x), 1)
            return self.predictions(self.dropout(x))

    classes: dict[str, type] = {
        "BasicConv2d": BasicConv2d,
        "InceptionBlock": InceptionBlock,
        "InceptionV3": InceptionV3,
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
    """InceptionV3 as a torch module taking NCHW float32 input."""
    apps.check_definition(NAME, "torch", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    module: nn.Module = _torch_classes()["InceptionV3"](
        input_shape, num_classes, torchvision, bn_momentum
    )
    return module


# ---- Keras: the application, renamed


def _creation_order(layers: list[Any], prefix: str) -> list[Any]:
    """The layers Keras auto-named ``prefix``, ``prefix_1``, ... in the order of creation."""
    pattern = re.compile(rf"{re.escape(prefix)}(?:_(\d+))?")
    found = [(m, layer) for layer in layers if (m := pattern.fullmatch(layer.name))]
    return [layer for m, layer in sorted(found, key=lambda f: int(f[0][1] or 0))]


def _consumer(layers: list[Any], layer: Any) -> Any:
    """The one layer that takes ``layer``'s output."""
    out = layer.output
    found = [other for other in layers if any(t is out for t in _inputs(other))]
    if len(found) != 1:
        raise ValueError(f"inceptionv3: {layer.name} feeds {len(found)} layers, expected 1")
    return found[0]


def _inputs(layer: Any) -> list[Any]:
    try:
        inputs = layer.input
    except (AttributeError, ValueError):
        return []
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def keras_names(model: keras.Model) -> dict[str, str]:
    """Keras's name -> the study's name of every auto-named layer of ``model`` (a freshly
    built ``keras.applications.InceptionV3``).

    Raises:
        ValueError: the application's layers do not come as :data:`BLOCKS` says (a Keras
            release that changed its InceptionV3).
    """
    layers = list(model.layers)
    convs = _creation_order(layers, "conv2d")
    expected = list(units())
    if len(convs) != len(expected):
        raise ValueError(f"inceptionv3: {len(convs)} Keras convolutions, expected {len(expected)}")
    names: dict[str, str] = {}
    for layer, (path, unit) in zip(convs, expected):
        got = (layer.filters, tuple(layer.kernel_size), tuple(layer.strides), layer.padding)
        want = (unit.filters, unit.kernel, (unit.stride,) * 2, unit.padding)
        if got != want or layer.use_bias:
            raise ValueError(f"inceptionv3: Keras {layer.name} is {got}, expected {path} {want}")
        prefix = path.replace(".", "_")
        bn = _consumer(layers, layer)
        relu = _consumer(layers, bn)
        names.update({layer.name: f"{prefix}_conv", bn.name: f"{prefix}_bn"})
        names[relu.name] = f"{prefix}_relu"
    pools = ["maxpool1", "maxpool2"] + [
        f"{block}_pool" for block, kind, _ in BLOCKS if kind not in AVERAGE_POOL_KINDS
    ]
    averages = [f"{block}_avgpool" for block, kind, _ in BLOCKS if kind in AVERAGE_POOL_KINDS]
    concats = [f"{block}_branch3x3dbl_cat" for block, kind, _ in BLOCKS if kind == "E"]
    for prefix, wanted in (
        ("max_pooling2d", pools),
        ("average_pooling2d", averages),
        ("concatenate", concats),
    ):
        found = _creation_order(layers, prefix)
        if len(found) != len(wanted):
            raise ValueError(f"inceptionv3: {len(found)} Keras {prefix}, expected {len(wanted)}")
        names.update({layer.name: new for layer, new in zip(found, wanted)})
    return names


def build_keras(
    input_shape: tuple[int, int, int],
    num_classes: int,
    torchvision: int = 0,
    bn_momentum: float | None = None,
) -> keras.Model:
    """``keras.applications.InceptionV3`` (untrained) taking NHWC float32 input in [0, 1],
    its layers renamed as the PyTorch twin's modules."""
    import keras

    apps.check_definition(NAME, "keras", torchvision)
    apps.check_size(NAME, input_shape, MIN_SIZE)
    inputs, x = apps.keras_input(input_shape, "tf")
    application = keras.applications.InceptionV3(
        input_shape=input_shape,
        include_top=True,
        weights=None,
        input_tensor=x,
        classes=num_classes,
        classifier_activation=None,
    )
    built = apps.study_model(inputs, application, NAME)
    names = keras_names(built)

    def renamed(layer: Any) -> Any:
        config = layer.get_config()
        config["name"] = names.get(layer.name, layer.name)
        return layer.__class__.from_config(config)

    model: keras.Model = keras.models.clone_model(built, clone_function=renamed)
    return apps.set_bn_momentum(model, bn_momentum)
