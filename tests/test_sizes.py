"""Sizes on disk: the file as saved and its stored weights only, for every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import model_folder

from convstudy import registry
from convstudy.frameworks import adapter
from convstudy.sizes import size_bytes, weights_bytes
from convstudy.spec import ModelSpec


def _parameter_bytes(folder: Path, framework: str) -> int:
    """float32 bytes of every weight (BatchNorm statistics included) of a saved model."""
    fw = adapter(framework)
    spec = ModelSpec.load(folder)
    net = fw.load(folder / registry.fmt(framework).artifact, spec)
    return sum(w.size * 4 for w in fw.weights(net).values())


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_weights_bytes_are_the_models_weights(tmp_path: Path, framework: str) -> None:
    folder = model_folder(tmp_path, "lenet5", framework)
    artifact = folder / registry.fmt(framework).artifact
    stored = weights_bytes(artifact)
    assert stored == _parameter_bytes(folder, framework)
    assert stored is not None and stored < size_bytes(artifact)


def test_keras_weights_leave_the_optimizer_state_out(tmp_path: Path) -> None:
    import keras

    folder = model_folder(tmp_path, "lenet5", "keras")
    artifact = folder / "model.keras"
    spec = ModelSpec.load(folder)
    net = adapter("keras").load(artifact, spec)
    net.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    net.fit(np.zeros((4, 28, 28, 1), "float32"), np.zeros(4, "int64"), verbose=0)
    trained = tmp_path / "trained.keras"
    net.save(trained)
    # Adam keeps two moments per weight: the file grows about 3x, the weights do not
    assert size_bytes(trained) > 2.5 * size_bytes(artifact)
    assert weights_bytes(trained) == weights_bytes(artifact)


def test_onnx_weights_and_external_data(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((256, 256), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])],
        [weight],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path), save_as_external_data=True,
              location="model.data", size_threshold=0)  # fmt: skip
    assert weights_bytes(path) == 256 * 256 * 4
    assert size_bytes(path) == path.stat().st_size + (tmp_path / "model.data").stat().st_size
    assert size_bytes(path) > 256 * 256 * 4


def test_unknown_kind_has_no_weights_size(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"0" * 10)
    assert weights_bytes(tmp_path / "model.bin") is None
