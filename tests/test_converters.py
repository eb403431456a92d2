"""One real conversion round trip per converter on a small model; failures become rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from convstudy import checkpoints, models
from convstudy.conversion import convert_cell
from convstudy.runtimes import onnx_runtime

HYPER = {"arch": {}}
ONNX_TORCH = {"exporter": "dynamo", "opset": 18, "converter_versions": {"torch": "test"}}
ONNX_KERAS = {"opset": 15, "converter_versions": {"tf2onnx": "test"}}


def coreml_settings(precision: str) -> dict:
    return {"minimum_deployment_target": "iOS15", "precision": precision, "converter_versions": {}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared-dataset file shaped like MNIST's, with varied images."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    arrays = {f"{k}_{s}": None for k in "xy" for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        arrays[f"x_{split}"] = rng.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 10, 8)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module", params=["torch", "keras"])
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    framework = request.param
    model = models.build("lenet5", framework, input_shape=(28, 28, 1), num_classes=10)
    if framework == "keras":  # Keras starts biases at zero; trained models have none such
        rng = np.random.default_rng(1)
        model.set_weights(
            [rng.normal(0, 0.1, w.shape).astype("float32") for w in model.get_weights()]
        )
    path = tmp_path_factory.mktemp(framework) / f"model.{framework}"
    checkpoints.save(model, framework, path)
    return framework, path


def convert(trained: tuple[str, Path], prepared: Path, fmt: str, settings: dict, out: Path) -> dict:
    framework, path = trained
    return convert_cell(
        model_name="lenet5", framework=framework, fmt=fmt, seed=0, dataset="mnist", model_path=path,
        data_path=prepared, hyper=HYPER, settings=settings, threads=1, out_dir=out,
    )  # fmt: skip


def original_outputs(trained: tuple[str, Path], x: np.ndarray) -> np.ndarray:
    framework, path = trained
    model = checkpoints.load(
        path, name="lenet5", framework=framework, input_shape=(28, 28, 1), num_classes=10, arch={}
    )
    batch = models.to_framework_input(x, "lenet5", framework)
    if framework == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()
    return np.asarray(model(batch, training=False))


def test_onnx_round_trip(trained: tuple[str, Path], prepared: Path, tmp_path: Path) -> None:
    framework = trained[0]
    # torch.onnx has two exporters (dynamo, the default, and TorchScript); tf2onnx one.
    exporters = ["dynamo", "torchscript"] if framework == "torch" else [None]
    x = np.load(prepared)["x_test"]
    for exporter in exporters:
        settings = {**ONNX_TORCH, "exporter": exporter} if exporter else ONNX_KERAS
        out = tmp_path / str(exporter)
        record = convert(trained, prepared, "onnx", settings, out)
        assert record["status"] == "ok", record
        assert (
            record["opset"] == settings["opset"] and (out / "model.onnx").stat().st_size > 200_000
        )
        converted = onnx_runtime.load(out, threads=1)(
            models.to_framework_input(x, "lenet5", framework)
        )
        assert_allclose(converted, original_outputs(trained, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 0.0), ("fp16", 1e-3)])
def test_coreml_conversion_weights_read_back(
    trained: tuple[str, Path], prepared: Path, tmp_path: Path, precision: str, tolerance: float
) -> None:
    record = convert(trained, prepared, f"coreml-{precision}", coreml_settings(precision), tmp_path)
    assert record["status"] == "ok", record
    weights = pd.read_csv(tmp_path / "weights.csv")
    assert len(weights) == 10  # 5 layers x (kernel, bias)
    assert weights["match"].all()
    assert weights["max_abs_diff"].max() <= tolerance
    if precision == "fp16":
        assert weights["max_abs_diff"].max() > 0  # FP16 storage does round the weights


def test_converter_crash_is_a_result_row(
    trained: tuple[str, Path], prepared: Path, tmp_path: Path
) -> None:
    framework = trained[0]
    # An opset the converter does not support: its exception is the finding. (The dynamo
    # exporter does not raise: it logs the failed version conversion and keeps its own
    # opset, which the record's `opset` and `opset_requested` columns show.)
    settings = (
        {**ONNX_TORCH, "exporter": "torchscript", "opset": 99}
        if framework == "torch"
        else {**ONNX_KERAS, "opset": 99}
    )
    record = convert(trained, prepared, "onnx", settings, tmp_path)
    assert record["status"] == "error"
    assert record["error_type"] and record["error_message"]
    written = pd.read_json(tmp_path / "conversion.json", typ="series")
    assert written["status"] == "error" and written["error_type"] == record["error_type"]
