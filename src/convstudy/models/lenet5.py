"""LeNet-5 for MNIST-sized images, defined identically in PyTorch and Keras.

conv 6@5x5 (same) + ReLU, maxpool 2, conv 16@5x5 (valid) + ReLU, maxpool 2, flatten,
dense 120 + ReLU, dense 84 + ReLU, dense ``num_classes`` (logits).

Parameterised layers are named ``conv1``, ``conv2``, ``fc1``, ``fc2``, ``fc3`` in both
frameworks. Frameworks are imported inside the builders so that importing this module
stays cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    from torch import nn


def feature_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(H, W, C) of the feature map that is flattened before ``fc1``."""
    h, w, _ = input_shape
    # conv1 keeps the size ("same"), pool halves, conv2 (5x5 valid) removes 4, pool halves.
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"lenet5 needs images of at least 12x12, got {h}x{w}")
    return h2, w2, 16


def build_torch(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """LeNet-5 as a named ``nn.Sequential`` taking NCHW float32 input."""
    from torch import nn

    h2, w2, c2 = feature_shape(input_shape)
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(input_shape[2], 6, kernel_size=5, padding=2)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(c2 * h2 * w2, 120)),
                ("relu3", nn.ReLU()),
                ("fc2", nn.Linear(120, 84)),
                ("relu4", nn.ReLU()),
                ("fc3", nn.Linear(84, num_classes)),
            ]
        )
    )


def build_keras(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """LeNet-5 as a functional ``keras.Model`` taking NHWC float32 input."""
    import keras
    from keras import layers

    feature_shape(input_shape)  # validates the size
    inputs = keras.Input(shape=input_shape, dtype="float32", name="input")
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    # Flattens H,W,C (torch flattens C,H,W): torch_to_keras permutes fc1's rows.
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", name="fc1")(x)
    x = layers.Dense(84, activation="relu", name="fc2")(x)
    outputs = layers.Dense(num_classes, name="fc3")(x)
    return keras.Model(inputs, outputs, name="lenet5")
