"""One real conversion round trip per converter on a small model; failures become rows.

CoreML: each format's weights read back from its files and matched against the trained
model's (every tensor of every model, found as it is or through the converter's known
rewrites), without writing to the model or importing coremltools."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import REPO
from helpers import model_folder, neutral_inputs
from numpy.testing import assert_allclose

from convstudy import coreml_weights, formats, frameworks, sizes
from convstudy.config import read_pins
from convstudy.formats import NotRunnable
from convstudy.grid import hop_settings
from convstudy.jobs import convert, read_weights
from convstudy.records import ConversionRecord
from convstudy.spec import ModelSpec

CONVERSION = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["conversion"]
PINS = read_pins(REPO / "envs" / "requirements.txt")
COREML = ("coreml-fp32", "coreml-fp16", "coreml-nn")
#: Narrow CIFAR networks (the study's default is width 16, the published one 64).
SMALL = {"resnet18": {"width": 8}, "vgg16": {"width": 8}}


@pytest.fixture(scope="module", autouse=True)
def both_frameworks() -> None:
    """coremltools detects the frameworks it converts from once, when first imported, and a
    conversion imports it with only its source's framework visible (a job converts from
    one): a process converting from both imports both first."""
    import tensorflow  # noqa: F401
    import torch  # noqa: F401


@pytest.fixture(scope="module", params=["torch", "keras"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp(request.param), "lenet5", request.param)


def framework_of(folder: Path) -> str:
    return ModelSpec.load(folder).format


def run_hop(trained: Path, route: str, out: Path, **overrides: object) -> ConversionRecord:
    spec = ModelSpec.load(trained)
    settings = {**hop_settings(CONVERSION, PINS, spec.format, route), **overrides}
    return convert.run(
        model=spec.model, framework=spec.format, seed=0, route=route, source=trained,
        settings=settings, threads=1, out_dir=out,
    )  # fmt: skip


def read_back(trained: Path, route: str, converted: Path, out: Path) -> list[dict[str, Any]]:
    """The ``read_weights`` job's rows for a converted model folder."""
    spec = ModelSpec.load(trained)
    record = read_weights.run(
        model=spec.model, framework=spec.format, seed=0, route=route, trained=trained,
        converted=converted, threads=1, out=out,
    )  # fmt: skip
    assert record.status == "ok", record
    return record.tensors


def files_of(artifact: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a model file or folder: its bytes and modification time."""
    paths = [artifact] if artifact.is_file() else sorted(artifact.rglob("*"))
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths if p.is_file()}


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


@pytest.mark.parametrize(
    ("route", "tolerance"), [("coreml-fp32", 0.0), ("coreml-fp16", 1e-3), ("coreml-nn", 0.0)]
)
def test_coreml_conversion_weights_read_back(
    trained: Path, tmp_path: Path, route: str, tolerance: float
) -> None:
    converted = tmp_path / "converted"
    record = run_hop(trained, route, converted)
    assert record.status == "ok", record
    assert record.facts["convert_to"] == ("neuralnetwork" if route == "coreml-nn" else "mlprogram")
    artifact = formats.artifact(converted, ModelSpec.load(converted))
    assert artifact.name == ("model.mlmodel" if route == "coreml-nn" else "model.mlpackage")
    with pytest.raises(NotRunnable, match="macOS"):  # no CoreML runtime off macOS
        formats.load(converted, threads=1)
    assert sizes.weights_bytes(artifact) >= 2 * 61_706  # LeNet-5's weights, 2 or 4 bytes each
    # the conversion wrote the weights it converted: the trained model's, by name, in order
    written = coreml_weights.load_source(converted)
    expected = frameworks.adapter(framework_of(trained)).weights(frameworks.load(trained))
    assert written is not None and list(written) == list(expected)
    assert all(np.array_equal(written[name], expected[name]) for name in expected)
    before = files_of(artifact)
    rows = read_back(trained, route, converted, tmp_path / "weights.json")
    assert files_of(artifact) == before  # reading wrote nothing, not even a manifest
    # a conversion made without them: the trained model is loaded instead, same rows
    (converted / coreml_weights.SOURCE_FILE).unlink()
    assert read_back(trained, route, converted, tmp_path / "loaded.json") == rows
    assert len(rows) == 10  # 5 layers x (kernel, bias)
    assert {row["status"] for row in rows} == {"matched"} and all(row["match"] for row in rows)
    assert max(row["max_abs_diff"] for row in rows) <= tolerance
    if route == "coreml-fp16":  # FP16 storage does round the weights
        assert max(row["max_abs_diff"] for row in rows) > 0
        assert all(row["rewrite"].endswith("cast-fp16") for row in rows)


@pytest.mark.parametrize("model", ["lenet5", "resnet18", "lstm", "gru"])
def test_reader_returns_what_coremltools_mil_loader_returns(model: str, tmp_path: Path) -> None:
    # The reader parses the package's files itself; coremltools' own MIL loader, walking
    # every block (the PyTorch GRU's weights are in a loop body), must see the same consts.
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    from convstudy.formats.coreml import import_coremltools

    ct = import_coremltools()
    trained = model_folder(tmp_path / "trained", model, "torch", arch=SMALL.get(model))
    for route in ("coreml-fp32", "coreml-fp16"):
        record = run_hop(trained, route, tmp_path / route)
        assert record.status == "ok", record
        package = tmp_path / route / "model.mlpackage"
        ours = coreml_weights.read_weights(package)
        copy = shutil.copytree(package, tmp_path / f"{route}-copy.mlpackage")  # load_spec writes
        spec = ct.utils.load_spec(str(copy))
        program = load_milproto(
            spec, spec.specificationVersion, str(copy / "Data/com.apple.CoreML/weights")
        )
        theirs = {}
        for function in program.functions.values():
            for op in _mil_operations(function):
                value = op.outputs[0].val if op.op_type == "const" else None
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 1:
                    theirs[op.name] = value
        assert list(ours) == list(theirs) and theirs, route
        for name, value in theirs.items():
            assert ours[name].dtype == value.dtype and ours[name].shape == value.shape, name
            np.testing.assert_array_equal(ours[name], value, err_msg=name)
        if route == "coreml-fp16" and model != "lstm":  # coremltools keeps the LSTM op in FP32
            assert {str(v.dtype) for v in ours.values()} == {"float16"}


def _mil_operations(block: Any) -> Any:
    for op in block.operations:
        yield op
        for nested in op.blocks:
            yield from _mil_operations(nested)


READ = """
import sys
from convstudy import coreml_weights
weights = coreml_weights.read_weights(sys.argv[1])
heavy = ("torch", "tensorflow", "keras", "coremltools")
print(len(weights), sorted(m for m in heavy if m in sys.modules))
"""


def test_reading_imports_no_framework_and_not_coremltools(trained: Path, tmp_path: Path) -> None:
    converted = tmp_path / "converted"
    for route in ("coreml-fp32", "coreml-nn"):
        assert run_hop(trained, route, converted / route).status == "ok"
        artifact = formats.artifact(converted / route, ModelSpec.load(converted / route))
        done = subprocess.run(
            [sys.executable, "-c", READ, str(artifact)], capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == ["10", "[]"], done.stdout + done.stderr


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("model", ["lenet5", "resnet18", "vgg16", "lstm", "gru"])
def test_every_tensor_is_matched_or_explained(model: str, framework: str, tmp_path: Path) -> None:
    """The converters' rewrites undone: BatchNorm folded into the convolutions (ResNet-18,
    VGG-16), PyTorch LSTM gates reordered with summed biases or split per gate, PyTorch GRU
    gates split (a loop body), a Keras GRU's bias rows split, Keras layouts transposed."""
    trained = model_folder(tmp_path / "trained", model, framework, arch=SMALL.get(model))
    for route in COREML:
        converted = tmp_path / route
        record = run_hop(trained, route, converted)
        assert record.status == "ok", record
        rows = read_back(trained, route, converted, tmp_path / f"{route}.json")
        counts = coreml_weights.counts(rows)
        unexplained = [row for row in rows if row["status"] == "unexplained"]
        assert not unexplained, (route, json.dumps(unexplained, indent=1, default=str))
        rewrites = {step for row in rows for step in row["rewrite"].split("+")}
        if model in ("resnet18", "vgg16"):
            assert "bn-folded" in rewrites and counts["explained"] > counts["matched"], route
        if model in ("lstm", "gru") and framework == "torch":
            assert rewrites & {"gates-reordered", "gates-split"}, route
        if framework == "keras" and model != "lstm":
            assert "transposed" in rewrites or "bias-split" in rewrites, route


def test_neuralnetwork_refused_target_is_an_error_row(trained: Path, tmp_path: Path) -> None:
    # coremltools refuses a neuralnetwork model for iOS15 or later: its exception is the
    # finding, recorded as the hop's error.
    record = run_hop(trained, "coreml-nn", tmp_path / "nn", minimum_deployment_target="iOS15")
    assert record.status == "error" and "neuralnetwork" in record.reason
    assert not (tmp_path / "nn" / "spec.json").exists()


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
