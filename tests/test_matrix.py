"""The conversion matrix: its paths, each converter family on a small model, the layout
harness (a known input through every path gives the source's outputs), failures as rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from helpers import model_folder, neutral_inputs
from numpy.testing import assert_allclose

from convstudy import formats, registry
from convstudy.config import read_pins
from convstudy.grid import hop_settings
from convstudy.jobs import convert
from convstudy.metrics import topk_kendall_tau
from convstudy.records import ConversionRecord
from convstudy.spec import ModelSpec

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PINS = read_pins(REPO / "envs" / "requirements.txt")

#: Every converter family of the matrix once, with the input layout each hop's model takes.
PATHS = {
    ("torch", "onnx+torch-fx"): ["NCHW", "NCHW"],
    ("torch", "onnx+savedmodel+tflite"): ["NCHW", "NHWC", "NHWC"],  # onnx2tf: NCHW -> NHWC
    ("keras", "savedmodel+onnx"): ["NHWC", "NHWC"],
    ("keras", "tflite+onnx"): ["NHWC", "NHWC"],
}


@pytest.fixture(scope="module", params=["torch", "keras"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp(request.param), "lenet5", request.param)


def run_path(trained: Path, route: str, root: Path) -> list[tuple[Path, ConversionRecord]]:
    """Every hop of ``route``, each from the previous hop's folder, as the workflow runs them."""
    framework, source, hops = ModelSpec.load(trained).format, trained, []
    for prefix in registry.route_prefixes(route):
        out = root / prefix
        settings = hop_settings(CONFIG["conversion"], PINS, framework, prefix)
        record = convert.run(
            model="lenet5", framework=framework, seed=0, route=prefix, source=source,
            settings=settings, threads=1, out_dir=out,
        )  # fmt: skip
        hops.append((out, record))
        source = out
    return hops


def outputs(folder: Path, x: np.ndarray) -> np.ndarray:
    spec = ModelSpec.load(folder)
    return formats.load(folder, threads=1, spec=spec)(spec.layout.prepare(x))


@pytest.mark.parametrize(("framework", "route"), list(PATHS), ids=lambda v: str(v))
def test_known_input_through_every_hop_gives_the_source_outputs(
    trained: Path, tmp_path: Path, framework: str, route: str
) -> None:
    if ModelSpec.load(trained).format != framework:
        pytest.skip("path of the other framework")
    x = neutral_inputs("lenet5")
    source = outputs(trained, x)
    hops = run_path(trained, route, tmp_path)
    for (folder, record), axes in zip(hops, PATHS[(framework, route)], strict=True):
        assert record.status == "ok", record
        spec = ModelSpec.load(folder)
        assert spec.format == record.format and spec.layout.axes == axes
        assert record.size_bytes and record.size_bytes > 50_000
        converted = outputs(folder, x)
        assert_allclose(converted, source, rtol=1e-3, atol=1e-4)
        assert topk_kendall_tau(source, converted) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("route", "kind", "smaller", "tolerance"),
    [("tflite-dr", "int8", 3.0, 0.05), ("tflite-fp16", "float16", 1.8, 1e-2)],
)
def test_tflite_as_deployed(
    trained: Path, tmp_path: Path, route: str, kind: str, smaller: float, tolerance: float
) -> None:
    """Dynamic-range and float16 TFLite: their own formats, with the weights the converter's
    setting stores, close to the source but not equal (the quantization error is the
    finding)."""
    if ModelSpec.load(trained).format != "keras":
        pytest.skip("TFLite is reached from Keras directly")
    from ai_edge_litert.interpreter import Interpreter

    x = neutral_inputs("lenet5")
    ((folder, record),) = run_path(trained, route, tmp_path)
    ((float_folder, float_record),) = run_path(trained, "tflite", tmp_path)
    assert record.status == "ok" and ModelSpec.load(folder).format == route
    assert record.facts["optimization"] in ("dynamic-range", "float16")
    tensors = Interpreter(model_path=str(folder / "model.tflite")).get_tensor_details()
    assert any(np.dtype(t["dtype"]).name == kind for t in tensors)
    assert float_record.size_bytes / record.size_bytes > smaller  # weights stored smaller
    converted, source = outputs(folder, x), outputs(trained, x)
    assert np.abs(converted - source).max() < tolerance
    assert not np.array_equal(converted, outputs(float_folder, x))


def test_torch_fx_folder_loads_without_pickle(trained: Path, tmp_path: Path) -> None:
    if ModelSpec.load(trained).format != "torch":
        pytest.skip("torch source only")
    folder, record = run_path(trained, "onnx+torch-fx", tmp_path)[-1]
    assert record.status == "ok"
    artifact = folder / registry.fmt("torch-fx").artifact
    assert {p.name for p in artifact.iterdir()} == {"graph.onnx", "state_dict.pt"}
    import torch

    state = torch.load(artifact / "state_dict.pt", weights_only=True)  # tensors only
    assert all(isinstance(value, torch.Tensor) for value in state.values())


def test_missing_converter_and_absent_env_are_rows(trained: Path, tmp_path: Path) -> None:
    framework = ModelSpec.load(trained).format
    route = "onnx+keras" if framework == "torch" else "onnx+torch-fx+tflite"
    if framework == "keras":
        with pytest.raises(KeyError, match="no converter from 'torch-fx' to 'tflite'"):
            registry.matrix_route(framework, route.split("+"))
        return
    (_, first), (_, missing) = run_path(trained, route, tmp_path)
    assert first.status == "ok"
    assert missing.status == "error" and missing.reason.startswith("NoConverter: no maintained")
    settings = {**hop_settings(CONFIG["conversion"], PINS, "torch", "tflite")}
    settings["python"] = str(tmp_path / "absent" / "python")
    record = convert.run(
        model="lenet5", framework="torch", seed=0, route="tflite", source=trained,
        settings=settings, threads=1, out_dir=tmp_path / "tflite",
    )  # fmt: skip
    assert record.status == "not_run" and "make litert-torch-env" in record.reason


def test_matrix_paths_of_the_configs_are_valid() -> None:
    for config in ("config.yaml", "paper.yaml"):
        paths = yaml.safe_load((REPO / "config" / config).read_text()).get("matrix", {})
        for framework, chains in paths.get("paths", {}).items():
            for chain in chains:
                assert registry.matrix_route(framework, chain) == tuple(chain)
    assert registry.missing_converter("onnx", "keras")
    assert registry.missing_converter("onnx", "torch-fx") is None
    assert registry.hop_env("torch", "onnx+keras") == registry.NO_CONVERTER_ENV


def test_topk_kendall_tau() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 10))
    assert topk_kendall_tau(y, y) == pytest.approx(1.0)
    assert topk_kendall_tau(y, -y) == pytest.approx(-1.0)  # the top-5 in reverse order
    shuffled = y + rng.normal(scale=10.0, size=y.shape)
    assert -1.0 < topk_kendall_tau(y, shuffled) < 0.9


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_torch_rnn_through_onnx2torch(model: str, tmp_path: Path) -> None:
    """The dynamo exporter reorders the recurrent gates with Slice and Concat of the
    weights; onnx2torch's lookup of constant inputs misses such computed constants (it
    raised 'Tensor "val_29" is not found in constant values'), the converter folds them.
    The exporter folds small weights itself, so the model is the default's size (64)."""
    trained = model_folder(tmp_path / "trained", model, "torch", width=64)
    x = neutral_inputs(model)
    source = outputs(trained, x)
    (folder, record) = run_path(trained, "onnx+torch-fx", tmp_path)[-1]
    assert record.status == "ok", record.reason
    assert_allclose(outputs(folder, x), source, rtol=1e-4, atol=1e-5)


LITERT_PYTHON = REPO / CONFIG["conversion"]["litert_torch"]["python"]


@pytest.mark.skipif(
    not LITERT_PYTHON.exists(),
    reason="the litert-torch environment is absent (`make litert-torch-env`, 2 GB)",
)
@pytest.mark.parametrize("model", ["lenet5", "gru"])
def test_torch_to_tflite_with_litert_torch(model: str, tmp_path: Path) -> None:
    """The PyTorch -> TFLite hop in its own environment: a known input gives the source's
    outputs in the LiteRT interpreter (token ids become int32, the batch is static)."""
    trained = model_folder(tmp_path / "trained", model, "torch")
    settings = {**hop_settings(CONFIG["conversion"], PINS, "torch", "tflite")}
    settings["python"] = str(LITERT_PYTHON)
    out = tmp_path / "tflite"
    record = convert.run(
        model=model, framework="torch", seed=0, route="tflite", source=trained,
        settings=settings, threads=1, out_dir=out,
    )  # fmt: skip
    assert record.status == "ok", record.reason
    x = neutral_inputs(model, n=int(settings["batch"]))
    assert_allclose(outputs(out, x), outputs(trained, x), rtol=1e-4, atol=1e-5)
