"""VGG-16 with BatchNorm, CIFAR variant (kuangliu/pytorch-cifar), in PyTorch and Keras.

Each of the 13 convolutions is conv3x3 (pad 1, with bias) + BN + ReLU; five maxpools
halve the image, so a 32x32 input flattens to 512 features before one dense layer.
``width`` (arch key, default 64: the published network) sets the first block's channels;
the blocks keep their 1:2:4:8:8 ratios.

Layer names, identical in both frameworks: ``conv{block}_{i}``, ``bn{block}_{i}``,
``relu{block}_{i}``, ``pool{block}`` (blocks 1-5), ``flatten``, ``fc``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    from torch import nn

#: Output channels per block (kuangliu's cfg "VGG16" with "M" at each block end).
BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)

#: The published first-block width; ``width`` scales every block by ``width / WIDTH``.
WIDTH = 64


def blocks(width: int = WIDTH) -> tuple[tuple[int, ...], ...]:
    """Output channels of each convolution, block by block, for first width ``width``."""
    return tuple(tuple(c * width // WIDTH for c in block) for block in BLOCKS)


#: BatchNorm settings of torch's defaults, spelled the Keras way (momentum = 1 - 0.1).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def feature_shape(input_shape: tuple[int, int, int], width: int = WIDTH) -> tuple[int, int, int]:
    """(H, W, C) of the feature map that is flattened before ``fc``."""
    h, w, _ = input_shape
    scale = 2 ** len(BLOCKS)
    if h < scale or w < scale:
        raise ValueError(f"vgg16 needs images of at least {scale}x{scale}, got {h}x{w}")
    return h // scale, w // scale, blocks(width)[-1][-1]


def build_torch(
    input_shape: tuple[int, int, int], num_classes: int, width: int = WIDTH
) -> nn.Module:
    """VGG-16 as a named ``nn.Sequential`` taking NCHW float32 input."""
    from torch import nn

    h, w, c = feature_shape(input_shape, width)
    layers: list[tuple[str, nn.Module]] = []
    channels = input_shape[2]
    for b, widths in enumerate(blocks(width), start=1):
        for i, out in enumerate(widths, start=1):
            layers.append((f"conv{b}_{i}", nn.Conv2d(channels, out, 3, padding=1)))
            layers.append((f"bn{b}_{i}", nn.BatchNorm2d(out)))
            layers.append((f"relu{b}_{i}", nn.ReLU()))
            channels = out
        layers.append((f"pool{b}", nn.MaxPool2d(2)))
    # kuangliu's trailing AvgPool2d(1, 1) is the identity and is left out.
    layers.append(("flatten", nn.Flatten()))
    layers.append(("fc", nn.Linear(c * h * w, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def build_keras(
    input_shape: tuple[int, int, int], num_classes: int, width: int = WIDTH
) -> keras.Model:
    """VGG-16 as a functional ``keras.Model`` taking NHWC float32 input."""
    import keras
    from keras import layers

    feature_shape(input_shape, width)  # validates the size
    inputs = keras.Input(shape=input_shape, dtype="float32", name="input")
    x = inputs
    for b, widths in enumerate(blocks(width), start=1):
        for i, out in enumerate(widths, start=1):
            # Stride 1 with an odd kernel: "same" pads 1 on every side, like torch.
            x = layers.Conv2D(out, 3, padding="same", name=f"conv{b}_{i}")(x)
            x = layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{b}_{i}"
            )(x)
            x = layers.ReLU(name=f"relu{b}_{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name="vgg16")
