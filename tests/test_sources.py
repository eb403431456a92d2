"""Models the user brings as conversion-matrix sources (config ``matrix.sources``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import snakemake

from convstudy.envs import CHECK_ENV_VAR
from convstudy.errors import ConfigError
from convstudy.formats import detect as source_format
from convstudy.jobs.import_source import layout_of


def test_layouts_of_brought_inputs() -> None:
    layout, shape = layout_of([None, 3, 224, 200], "float32", "input")
    assert (layout.axes, shape, layout.name) == ("NCHW", (224, 200, 3), "input")
    layout, shape = layout_of([None, 32, 32, 3], "float32", "x")
    assert (layout.axes, shape) == ("NHWC", (32, 32, 3))
    layout, shape = layout_of([None, 40], "int64", "ids")
    assert (layout.axes, layout.dtype, layout.scale, shape) == ("NL", "int64", None, (40,))
    with pytest.raises(ConfigError, match="only 4-D float images"):
        layout_of([None, 10], "float32", "features")


def test_source_format_names_a_bad_path(tmp_path: Path) -> None:
    assert source_format(_write(tmp_path / "m.onnx")) == "onnx"
    with pytest.raises(ConfigError, match="model.bin: no such file or folder"):
        source_format(tmp_path / "model.bin")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"model.bin: not a model file \(.*\.onnx"):
        source_format(tmp_path / "model.bin")


def _write(path: Path) -> Path:
    """A small CNN (NCHW, dynamic batch) exported to ONNX: a model someone brings."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 5),
    ).eval()  # fmt: skip
    torch.onnx.export(
        net, (torch.rand(2, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )  # fmt: skip
    return path


def test_missing_source_stops_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("matrix:\n  sources: [{name: mine, path: /nonexistent/model.onnx}]\n")
    done = snakemake(tmp_path, "-n", configfiles=(config,))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "convstudy: invalid config key 'matrix.sources.0.path': /nonexistent/model.onnx: "
        "no such file or folder"
    )


@pytest.mark.slow
def test_a_brought_onnx_model_through_the_matrix(tmp_path: Path) -> None:
    model = _write(tmp_path / "brought.onnx")
    config = tmp_path / "sources.yaml"
    config.write_text(
        f"matrix:\n  sources: [{{name: brought, path: {model}, n: 16}}]\n"
        "  source_paths: {onnx: [[savedmodel], [torch-fx], [keras]]}\n"
    )
    target = "results/report/matrix_sources.csv"
    env = {CHECK_ENV_VAR: "1"}  # each job with only its env file's packages importable
    done = snakemake(tmp_path, "--cores", "2", target, configfiles=(config,), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_csv(tmp_path / target).set_index("path")
    assert list(table.index) == ["savedmodel", "torch-fx", "keras"]
    assert (table["source"] == "onnx").all() and (table["model"] == "brought").all()
    for path in ("savedmodel", "torch-fx"):  # onnx2tf (NCHW -> NHWC) and onnx2torch
        assert table.loc[path, "status"] == "ok", table.loc[path, "reason"]
        assert float(table.loc[path, "disagreement"]) == 0.0  # a column with "not run" cells
        assert float(table.loc[path, "max_abs_error_logit"]) < 1e-4
    assert table.loc["keras", "status"] == "error"  # no ONNX -> Keras 3 converter: a row
    assert "NoConverter" in table.loc["keras", "reason"]
    inputs = np.load(tmp_path / "results/sources/brought/inputs.npz")
    assert inputs["x_test"].shape == (16, 16, 16, 3) and inputs["x_test"].dtype == np.uint8
    record = (tmp_path / "results/sources/brought/predictions/original.json").read_text()
    assert '"accuracy": null' in record  # no labels: no accuracy, only agreement


def test_documented_commands_name_targets_before_configfile() -> None:
    """``--configfile`` takes every word after it as a config file: a target written after
    it is read as one. Every documented command names its targets first."""
    from conftest import REPO

    docs = [REPO / "README.md", REPO / "config" / "README.md", *sorted(REPO.glob("docs/*.md"))]
    for doc in docs:
        fenced = False
        for line in doc.read_text().splitlines():
            fenced = fenced != line.startswith("```")
            commands = re.findall(r"`([^`]*snakemake [^`]*)`", line)
            if fenced or line.startswith(("    ", "snakemake ")):
                commands.append(line)
            for command in commands:
                words = command.split()
                if "snakemake" not in words or "--configfile" not in words:
                    continue
                after = words[words.index("--configfile") + 1 :]
                end = next((k for k, w in enumerate(after) if w.startswith("-")), len(after))
                assert all(w.endswith((".yaml", ".yml")) for w in after[:end]), (doc, line)


def _huge(path: Path) -> Path:
    """A valid ONNX model that declares a 100000 x 100000 image input."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["N", 3, 100000, 100000]
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.save(model, str(path))
    return path


def test_a_refused_source_is_a_record_that_stops_its_later_jobs(tmp_path: Path) -> None:
    """A brought model the import refuses (here: its declared input is over the batch cap)
    is written as a refusal record, not a failed job; every later job of that source
    reads why it does not run."""
    from convstudy.conversion import upstream_failure
    from convstudy.jobs import import_source
    from convstudy.records import ConversionRecord

    settings = {"name": "huge", "path": str(_huge(tmp_path / "huge.onnx")), "n": 8}
    out, inputs = tmp_path / "original", tmp_path / "inputs.npz"
    assert import_source.run(name="huge", settings=settings, seed=0, out_dir=out,
                             inputs_out=inputs) is None  # fmt: skip
    record = ConversionRecord.load(out)
    assert record.status == "error" and "over the cap" in record.reason
    assert "is 100000)" in record.reason
    why = upstream_failure(out)
    assert why is not None and why.startswith("source huge refused: ") and "\n" not in why
    assert len(np.load(inputs)["x_test"]) == 0


@pytest.mark.slow
def test_a_refused_source_is_a_row_beside_the_others(tmp_path: Path) -> None:
    """One good and one refused source: the report is written with both; without the
    refused one in the config, it is written again for the good one only."""
    good, huge = _write(tmp_path / "good.onnx"), _huge(tmp_path / "huge.onnx")
    config = tmp_path / "sources.yaml"
    paths = "  source_paths: {onnx: [[torch-fx]]}\n"
    config.write_text(
        f"matrix:\n  sources: [{{name: good, path: {good}, n: 8}}, {{name: huge, path: {huge}}}]\n"
        + paths
    )
    target = "results/report/matrix_sources.csv"
    done = snakemake(tmp_path, "--cores", "2", target, configfiles=(config,))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_csv(tmp_path / target).set_index("model")
    assert table.loc["good", "status"] == "ok"
    assert table.loc["huge", "status"] == "not_run"
    assert "source huge refused" in table.loc["huge", "reason"]
    assert "over the cap" in table.loc["huge", "reason"]
    config.write_text(f"matrix:\n  sources: [{{name: good, path: {good}, n: 8}}]\n" + paths)
    done = snakemake(tmp_path, "--cores", "2", target, configfiles=(config,))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(pd.read_csv(tmp_path / target)["model"]) == ["good"]
    title = (tmp_path / "results/report/matrix_sources.md").read_text().splitlines()[0]
    assert "good: " in title and "huge" not in title
