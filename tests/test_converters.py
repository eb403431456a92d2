"""One real conversion round trip per converter on a small model; failures become rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from helpers import model_folder, neutral_inputs
from numpy.testing import assert_allclose

from convstudy import formats
from convstudy.config import read_pins
from convstudy.grid import hop_settings
from convstudy.jobs import convert, read_weights
from convstudy.records import ConversionRecord
from convstudy.spec import ModelSpec

CONVERSION = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["conversion"]
PINS = read_pins(REPO / "envs" / "requirements.txt")


@pytest.fixture(scope="module", params=["torch", "keras"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp(request.param), "lenet5", request.param)


def framework_of(folder: Path) -> str:
    return ModelSpec.load(folder).format


def run_hop(trained: Path, route: str, out: Path, **overrides: object) -> ConversionRecord:
    framework = framework_of(trained)
    settings = {**hop_settings(CONVERSION, PINS, framework, route), **overrides}
    return convert.run(
        model="lenet5", framework=framework, seed=0, route=route, source=trained,
        settings=settings, threads=1, out_dir=out,
    )  # fmt: skip


def outputs(folder: Path, x: np.ndarray) -> np.ndarray:
    spec = ModelSpec.load(folder)
    return formats.load(folder, threads=1, spec=spec)(spec.layout.prepare(x))


def test_onnx_round_trip(trained: Path, tmp_path: Path) -> None:
    # torch.onnx has two exporters (dynamo, the default, and TorchScript); tf2onnx one.
    exporters = ["dynamo", "torchscript"] if framework_of(trained) == "torch" else [None]
    x = neutral_inputs("lenet5")
    for exporter in exporters:
        out = tmp_path / str(exporter)
        record = run_hop(trained, "onnx", out, **({"exporter": exporter} if exporter else {}))
        assert record.status == "ok", record
        assert record.facts["opset"] == record.settings["opset"]
        assert (out / "model.onnx").stat().st_size > 200_000
        assert ModelSpec.load(out).format == "onnx"
        assert_allclose(outputs(out, x), outputs(trained, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 0.0), ("fp16", 1e-3)])
def test_coreml_conversion_weights_read_back(
    trained: Path, tmp_path: Path, precision: str, tolerance: float
) -> None:
    route = f"coreml-{precision}"
    record = run_hop(trained, route, tmp_path / "converted")
    assert record.status == "ok", record
    assert record.settings["precision"] == precision
    weights = read_weights.run(
        model="lenet5", framework=framework_of(trained), seed=0, route=route, trained=trained,
        converted=tmp_path / "converted", threads=1, out=tmp_path / "weights.json",
    )  # fmt: skip
    assert len(weights.tensors) == 10  # 5 layers x (kernel, bias)
    assert all(row["match"] for row in weights.tensors)
    assert max(row["max_abs_diff"] for row in weights.tensors) <= tolerance
    if precision == "fp16":  # FP16 storage does round the weights
        assert max(row["max_abs_diff"] for row in weights.tensors) > 0


def test_converter_crash_is_a_result_row(trained: Path, tmp_path: Path) -> None:
    # An opset the converter does not support: its exception is the finding. (The dynamo
    # exporter does not raise: it logs the failed version conversion and keeps its own
    # opset, which the record's `opset` and `opset_requested` facts show.)
    torch = framework_of(trained) == "torch"
    settings = {"exporter": "torchscript", "opset": 99} if torch else {"opset": 99}
    record = run_hop(trained, "onnx", tmp_path / "onnx", **settings)
    assert record.status == "error"
    assert record.reason.split(":")[0].isidentifier() and ": " in record.reason
    written = ConversionRecord.load(tmp_path / "onnx")
    assert written.status == "error" and written.reason == record.reason
    assert not (tmp_path / "onnx" / "spec.json").exists()
