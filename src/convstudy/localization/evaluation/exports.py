"""Faithful converted models to plant into: one seeded study model (BatchNorm statistics
and biases as if trained) exported by the study's converters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from convstudy.localization.io.inputs import adapt, random_inputs

#: Samples each localization and repair is measured on.
SAMPLES = 32
#: Sequence length and vocabulary of the text models built here.
SEQ_LEN, VOCAB = 64, 500


@dataclass
class Exports:
    """One seeded study model through the study's converters, and the inputs of each."""

    dynamo: onnx.ModelProto
    torchscript: onnx.ModelProto
    unfolded: onnx.ModelProto
    keras: onnx.ModelProto
    x_torch: np.ndarray
    x_keras: np.ndarray


def _trained_like(net: object, seed: int) -> None:
    """Give BatchNorm statistics and biases values a trained model has (untrained ones are
    0 and 1, which hides a changed epsilon or a dropped bias)."""
    from convstudy import frameworks

    adapter = frameworks.adapter("torch")
    rng = np.random.default_rng(seed)
    changed = {}
    for name, value in adapter.weights(net).items():
        if name.endswith("running_var"):
            changed[name] = rng.uniform(0.05, 2.0, value.shape)
        elif name.endswith(("running_mean", "bias")):
            changed[name] = value + rng.normal(0.0, 0.1, value.shape)
        elif value.ndim == 1 and name.endswith("weight"):  # BatchNorm scale
            changed[name] = value + rng.normal(0.0, 0.2, value.shape)
    adapter.set_weights(net, changed)


def faithful(model: str, folder: Path, seed: int = 0) -> Exports:
    """A seeded study model (BatchNorm statistics as if trained) exported by torch.onnx
    (dynamo; TorchScript; dynamo without its graph optimisation, which keeps BatchNorm
    nodes) and, after copying its weights into the Keras model, by tf2onnx."""
    import torch

    from convstudy import frameworks, models, registry
    from convstudy.converters import tf2onnx as keras_onnx
    from convstudy.converters import torch_onnx
    from convstudy.localization.io.views import IMAGE_SHAPES
    from convstudy.models.transfer import torch_to_keras

    entry = registry.model(model)
    if entry.kind == "image":
        arrays = {"x_train": np.zeros((1, *IMAGE_SHAPES[entry.dataset]), np.uint8)}
    else:
        arrays = {
            "x_train": np.zeros((1, SEQ_LEN), np.int64),
            "vocab": np.asarray([f"w{i}" for i in range(VOCAB)]),
        }
    spec = models.model_spec(model, "torch", arrays, {})
    adapter = frameworks.adapter("torch")
    adapter.seed(seed)
    net = models.build(
        model, "torch", input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    _trained_like(net, seed)
    torch_folder, keras_folder = folder / "torch", folder / "keras"
    torch_folder.mkdir()
    keras_folder.mkdir()
    adapter.save(net, torch_folder / registry.fmt("torch").artifact)
    spec.dump(torch_folder)
    exports = {}
    for exporter in ("dynamo", "torchscript"):
        out = folder / f"{exporter}.onnx"
        torch_onnx.convert(torch_folder, spec, out, settings={"exporter": exporter, "opset": 18})
        exports[exporter] = onnx.load(str(out))
    unfolded = folder / "unfolded.onnx"
    torch.onnx.export(
        net.eval(),
        (torch.from_numpy(spec.example()),),
        str(unfolded),
        dynamo=True,
        optimize=False,
        opset_version=18,
        external_data=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    keras_spec = models.model_spec(model, "keras", arrays, {})
    keras_net = models.build(
        model, "keras", input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    torch_to_keras(net, keras_net, model)
    frameworks.adapter("keras").save(keras_net, keras_folder / registry.fmt("keras").artifact)
    keras_spec.dump(keras_folder)
    keras_out = folder / "keras.onnx"
    keras_onnx.convert(keras_folder, keras_spec, keras_out, settings={"opset": 18})
    dynamo = exports["dynamo"]
    x = random_inputs(dynamo, SAMPLES, seed=0)
    keras = onnx.load(str(keras_out))
    return Exports(
        dynamo,
        exports["torchscript"],
        onnx.load(str(unfolded)),
        keras,
        x,
        adapt(x, keras, "target"),
    )
