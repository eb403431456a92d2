"""Small model folders for tests: a built (untrained) model saved the way `train` saves it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convstudy import models, registry
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec

IMAGE_SHAPES = {"lenet5": (28, 28, 1), "resnet18": (32, 32, 3), "vgg16": (32, 32, 3)}
VOCAB, SEQ_LEN = 50, 12


def model_folder(
    folder: Path,
    model: str,
    framework: str,
    seed: int = 0,
    *,
    width: int = 8,
    arch: dict[str, int] | None = None,
) -> Path:
    """Build ``model`` in ``framework`` with varied weights and save it as a model folder
    (text models: embedding and hidden size ``width``; ``arch``: the model's arch keys,
    e.g. ``{"width": 8}`` for a narrow ResNet-18 or VGG-16)."""
    text = models.is_recurrent(model)
    dataset = registry.model(model).dataset
    if text:
        arch = {"vocab_size": VOCAB, "embed_dim": width, "hidden": width, **(arch or {})}
    spec = ModelSpec(
        model=model,
        dataset=dataset,
        format=framework,
        input_shape=(SEQ_LEN,) if text else IMAGE_SHAPES[model],
        num_classes=registry.NUM_CLASSES[dataset],
        layout=models.input_layout(model, framework),
        arch=models.resolve_arch(model, arch) if arch else {},
        vocab=tuple(f"w{i}" for i in range(VOCAB)) if text else None,
    )
    net = models.build(
        model, framework, input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    fw = adapter(framework)
    # Keras starts biases at zero and BatchNorm at the identity; trained models have neither.
    rng = np.random.default_rng(seed)
    fw.set_weights(
        net,
        {
            name: rng.normal(0, 0.1, value.shape).astype(np.float32)
            + (1.0 if "var" in name else 0.0)
            for name, value in fw.weights(net).items()
        },
    )
    folder.mkdir(parents=True, exist_ok=True)
    fw.save(net, folder / registry.fmt(framework).artifact)
    spec.dump(folder)
    return folder


def neutral_inputs(model: str, n: int = 8, seed: int = 0) -> np.ndarray:
    """Framework-neutral inputs for ``model``: uint8 images or token ids."""
    rng = np.random.default_rng(seed)
    if models.is_recurrent(model):
        return rng.integers(0, VOCAB, (n, SEQ_LEN))
    return rng.integers(0, 256, (n, *IMAGE_SHAPES[model]), dtype=np.uint8)


def prepared_file(
    folder: Path, name: str, shape: tuple[int, ...], n: int = 8, **info: object
) -> Path:
    """A prepared-dataset file ``<name>.npz`` with ``n`` varied uint8 images of ``shape`` and
    labels 0-9 per split, seeded, and its provenance ``<name>.json`` (the dataset is the name
    before any ``-``; ``info`` adds fields)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"x_{split}"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 10, n)
    np.savez(folder / f"{name}.npz", **arrays)
    (folder / f"{name}.json").write_text(json.dumps({"dataset": name.split("-")[0], **info}))
    return folder / f"{name}.npz"
