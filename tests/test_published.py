"""Published ImageNet weights (training ``weights: imagenet``, :mod:`convstudy.models.published`).

The published files cannot be fetched here (no network), so each test writes a file in the
published layout (Keras's HDF5 weights of ``keras.applications.<Model>``, seeded) and runs
the real loading code on it: the study's model must then compute what the application
computes with its own preprocessing, in both frameworks; a file whose digest is not the
publisher's is refused, whether found in the weights folder or downloaded (from a local HTTP
server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import model_folder, prepared_file
from test_attacks import http_server

from convstudy import models
from convstudy.config import validate
from convstudy.errors import ConfigError, DataError
from convstudy.frameworks import adapter, load
from convstudy.jobs import adopt_weights
from convstudy.models import published
from convstudy.provenance import sha256_file
from convstudy.records import TrainingRecord
from convstudy.spec import ModelSpec

REPO = Path(__file__).resolve().parents[1]
#: model: (application, preprocessing module, input size) at test scale.
APPLICATIONS = {
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2", 32),
    "resnet101": ("ResNet101", "resnet", 32),
    "inceptionv3": ("InceptionV3", "inception_v3", 75),
}
HYPER = {"subset": {"train": None, "val": None, "test": None}, "arch": {}, "weights": "imagenet"}


def published_file(folder: Path, model: str, size: int) -> tuple[Path, object]:
    """A seeded ``keras.applications`` model of ``model`` and its weights written as the
    published file is (HDF5, layer by layer), under the published name."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    name, _, _ = APPLICATIONS[model]
    keras.utils.set_random_seed(0)
    application = getattr(keras.applications, name)(
        weights=None, include_top=True, input_shape=(size, size, 3), classes=1000,
        classifier_activation=None,
    )  # fmt: skip
    for layer in application.layers:  # moving statistics away from 0 and 1, as trained ones are
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(np.random.default_rng(1).normal(0, 0.1, mean.shape))
            var.assign(np.random.default_rng(2).uniform(0.5, 1.5, var.shape))
    path = folder / published.weights_for(model, size).file
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, application)
    return path, application


def images(size: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("model", sorted(APPLICATIONS))
def test_the_published_file_loads_as_the_application_computes_it(
    tmp_path: Path, model: str
) -> None:
    """The study's Keras model with the file loaded, fed RGB in [0, 1], computes what the
    application computes on the same pixels after its own ``preprocess_input`` (for
    ResNet-101: BGR, which the loader turns into an RGB first convolution)."""
    import keras

    _, module, size = APPLICATIONS[model]
    path, application = published_file(tmp_path, model, size)
    weights = published.weights_for(model, size)
    net = models.build(model, "keras", input_shape=(size, size, 3), num_classes=1000, arch={})
    published.load_keras(net, weights, path)
    x = images(size)
    theirs = np.asarray(
        application(getattr(keras.applications, module).preprocess_input(x.astype("float32")))
    )
    ours = np.asarray(net(x.astype("float32") / 255.0))
    scale = float(np.abs(theirs).max())
    assert np.abs(ours - theirs).max() <= 1e-4 * scale, (model, scale)
    assert (ours.argmax(1) == theirs.argmax(1)).all()


def test_the_job_gives_both_frameworks_the_published_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``weights: imagenet`` from ``$CONVSTUDY_WEIGHTS_DIR``: the Keras and the PyTorch
    model folders hold the published function (1000 classes), recorded as published with
    the file's sha256 and no accuracy against the evaluation images' labels."""
    size = 32
    path, _ = published_file(tmp_path / "weights", "mobilenetv2", size)
    monkeypatch.setenv(published.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    data = prepared_file(tmp_path, "cifar10-32px", (size, size, 3), exact=False)
    outputs = {}
    for framework in ("keras", "torch"):
        folder = tmp_path / "models" / framework
        record = adopt_weights.run(
            model="mobilenetv2", framework=framework, seed=0, hyper=HYPER, threads=1,
            data_path=data, out_dir=folder,
        )  # fmt: skip
        assert record.init == published.INIT and record.num_classes == 1000
        assert record.imported_sha256 == sha256_file(path) and np.isnan(record.final_val_acc)
        assert path.name in record.imported_from
        assert TrainingRecord.load(folder / TrainingRecord.FILE).imported_sha256 == sha256_file(
            path
        )
        spec = ModelSpec.load(folder)
        outputs[framework] = adapter(framework).predictor(load(folder))(
            spec.layout.prepare(images(size))
        )
    scale = float(np.abs(outputs["keras"]).max())
    assert outputs["keras"].shape == (4, 1000)
    assert np.abs(outputs["keras"] - outputs["torch"]).max() <= 1e-4 * scale


def test_weights_not_the_publishers_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose md5 is not the published one stops with one line naming it, whether it
    lies in the weights folder or is downloaded; an unreachable publisher names the file to
    put in the folder."""
    weights = published.weights_for("resnet101", 32)
    local = tmp_path / "weights"
    local.mkdir()
    (local / weights.file).write_bytes(b"not the published weights")
    monkeypatch.setenv(published.WEIGHTS_DIR_ENV, str(local))
    with pytest.raises(DataError, match="md5 differs from the published f1aeb4b9"):
        published.fetch(weights, tmp_path / "cache")
    monkeypatch.setenv(published.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    with pytest.raises(DataError, match="not found"):
        published.fetch(weights, tmp_path / "cache")
    monkeypatch.delenv(published.WEIGHTS_DIR_ENV)
    with http_server(local) as base:
        served = published.PublishedWeights(weights.file, f"{base}/{weights.file}", weights.md5)
        with pytest.raises(DataError, match="cannot fetch the published weights"):
            published.fetch(served, tmp_path / "cache")
    assert not (tmp_path / "cache" / weights.file).exists()  # the bad download is not kept
    gone = published.PublishedWeights(weights.file, "http://127.0.0.1:9/x.h5", weights.md5)
    with pytest.raises(DataError, match=f"put {weights.file} in"):
        published.fetch(gone, tmp_path / "cache")


def test_published_weights_only_for_the_imagenet_architectures() -> None:
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["training"]["resnet101"]["weights"] = "imagenet"
    validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    config["training"]["lenet5"]["weights"] = "imagenet"
    with pytest.raises(ConfigError, match="'training.lenet5.weights'"):
        validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_a_pytorch_cell_can_carry_the_keras_model_across(tmp_path: Path) -> None:
    """``weights: keras``: the PyTorch cell is the Keras model of its seed, carried across by
    the weight transfer; both compute the same function, recorded with the file's sha256."""
    keras_folder = model_folder(tmp_path / "keras", "lenet5", "keras", seed=0)
    data = prepared_file(tmp_path, "mnist", (28, 28, 1), exact=True)
    hyper = {**HYPER, "weights": "keras"}
    folder = tmp_path / "torch"
    record = adopt_weights.run(
        model="lenet5", framework="torch", seed=0, hyper=hyper, threads=1, out_dir=folder,
        data_path=data, keras_model=keras_folder,
    )  # fmt: skip
    assert record.init == published.KERAS_INIT and record.num_classes == 10
    assert record.imported_sha256 == sha256_file(keras_folder / "model.keras")
    x = np.load(data)["x_test"]
    theirs = adapter("keras").predictor(load(keras_folder))(
        ModelSpec.load(keras_folder).layout.prepare(x)
    )
    ours = adapter("torch").predictor(load(folder))(ModelSpec.load(folder).layout.prepare(x))
    assert np.abs(ours - theirs).max() <= 1e-4 * float(np.abs(theirs).max())
    with pytest.raises(ValueError, match="for the PyTorch cells"):
        adopt_weights.run(
            model="lenet5", framework="keras", seed=0, hyper=hyper, threads=1,
            out_dir=tmp_path / "k", data_path=data, keras_model=keras_folder,
        )  # fmt: skip
