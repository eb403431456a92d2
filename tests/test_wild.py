"""Models as users have them: SavedModels of every writer, quantized TFLite and ONNX models
made with the real tools, one corrupted weight, fused ops no tool converts, and what the
command says about each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import model_folder

from convstudy.cli import main
from convstudy.localization.evaluation import targets
from convstudy.localization.evaluation.exports import SAMPLES, Exports, faithful
from convstudy.localization.evaluation.faults import FAULTS
from convstudy.localization.evaluation.injection import names_planted
from convstudy.localization.io.inputs import adapt
from convstudy.localization.io.views import open_view, verify
from convstudy.localization.pipeline import localize_models
from convstudy.spec import ModelSpec


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convstudy.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def _document(out: Path) -> dict:
    return json.loads((out / "localization.json").read_text())


# ---- SavedModels of every writer


def test_savedmodels_of_every_writer(tmp_path: Path) -> None:
    """The matrix's own onnx2tf SavedModel against its ONNX folder, and a tf.Module saved
    with tf.saved_model.save, are viewed (variables frozen, one input) and equivalent."""
    import tensorflow as tf

    from convstudy.converters import onnx2tf, torch_onnx

    torch_folder = model_folder(tmp_path / "torch", "lenet5", "torch")
    onnx_folder, saved_folder = tmp_path / "onnx", tmp_path / "onnx+savedmodel"
    onnx_folder.mkdir()
    saved_folder.mkdir()
    spec = torch_onnx.convert(
        torch_folder, ModelSpec.load(torch_folder), onnx_folder / "model.onnx",
        settings={"exporter": "dynamo", "opset": 18},
    ).spec  # fmt: skip
    spec.dump(onnx_folder)
    onnx2tf.convert(onnx_folder, spec, saved_folder / "model.savedmodel", settings={}).spec.dump(
        saved_folder
    )
    out = tmp_path / "loc"
    assert main(["localize", str(onnx_folder), str(saved_folder), "--out", str(out)]) == 0
    document = _document(out)
    assert document["first_divergent"] is None
    assert document["run"]["target"]["kind"] == "savedmodel"
    assert "frozen" in document["run"]["target"]["view"]

    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(0)
            self.kernel = tf.Variable(rng.normal(0, 0.1, (3, 3, 1, 4)).astype(np.float32))
            self.weight = tf.Variable(rng.normal(0, 0.1, (4 * 26 * 26, 10)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            y = tf.nn.relu(tf.nn.conv2d(x, self.kernel, 1, "VALID"))
            return {"scores": tf.matmul(tf.reshape(y, [-1, 4 * 26 * 26]), self.weight)}

    module = tmp_path / "module"
    tf.saved_model.save(Module(), str(module))
    out = tmp_path / "loc-module"
    assert main(["localize", str(module), str(module), "--samples", "4", "--out", str(out)]) == 0
    assert _document(out)["first_divergent"] is None


# ---- quantized models made with the real tools


@pytest.fixture(scope="module")
def lenet(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Exports, Path]:
    """LeNet-5's faithful exports (torch, Keras twin, dynamo ONNX) in a folder."""
    folder = tmp_path_factory.mktemp("lenet-exports")
    return faithful("lenet5", folder), folder


@pytest.mark.parametrize("kind", targets.TARGETS)
def test_converted_target_is_equivalent_and_a_planted_fault_is_found_and_repaired(
    lenet: tuple[Exports, Path], data_dir: Path, kind: str
) -> None:
    """Each quantized (and onnx2tf) target of LeNet-5, made with the real tools and
    calibrated on real MNIST images: its view is verified, the target itself is equivalent
    to the float export within its expected quantization error (reported per layer), and
    weight noise planted into it is named at its layer and repaired."""
    exports, folder = lenet
    calibration = targets.real_images("lenet5", data_dir, 0, targets.CALIBRATION)
    images = targets.real_images("lenet5", data_dir, targets.CALIBRATION, SAMPLES)
    path = targets.make(kind, folder, calibration)
    source, x_source = folder / "dynamo.onnx", adapt(images, exports.dynamo, "source")
    loc = localize_models(source, path, x_source, images).localization
    assert loc.first_divergent is None, loc.first_divergent
    if kind.startswith(("tflite", "onnx-")):
        assert loc.run["quantization"]["target"]
        assert max(row.expected for row in loc.activations) > 1e-4  # reported per layer
        assert max(row.relative or 0.0 for row in loc.parameters) > 1e-4  # and not a fault
    view = open_view(path, "target")
    x = adapt(images, view.model, "target")
    verify(view, "target", x)
    faulty, planted = FAULTS["weight_noise"](view.model, np.random.default_rng(0))
    faulty_path = folder / f"{kind}-faulty.onnx"
    onnx.save(faulty, str(faulty_path))
    result = localize_models(source, faulty_path, x_source, x, repair=True)
    assert names_planted(result.localization, planted, faulty), result.localization.first_divergent
    assert result.repair is not None and result.repair.success, result.repair


def test_int8_inputs_take_the_files_own_scale(lenet: tuple[Exports, Path], data_dir: Path,
                                              tmp_path: Path) -> None:  # fmt: skip
    """A full-int8 TFLite model with int8 inputs is localised from float images (quantized
    with the scale and zero point in the file) by the command, as is its float-input twin."""
    folder = lenet[1]
    calibration = targets.real_images("lenet5", data_dir, 0, targets.CALIBRATION)
    path = targets.make("tflite-int8-io", folder, calibration)
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_input_details()[0]
    assert details["dtype"] == np.int8 and details["quantization"][0] > 0
    images = tmp_path / "images.npy"
    np.save(images, targets.real_images("lenet5", data_dir, targets.CALIBRATION, 16))
    out = tmp_path / "loc"
    keras = folder / "keras" / "model.keras"
    args = ["localize", str(keras), str(path), "--inputs", str(images), "--out", str(out)]
    assert main(args) == 0
    document = _document(out)
    assert document["first_divergent"] is None
    assert document["run"]["target"]["quantization"] == "int8 weights, int8 activations"


# ---- one corrupted weight


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """LeNet-5's dynamo export, and a copy with one element of its largest dense weight off
    by 76% of the layer's mean |w| (the mean metric moves by 2e-5, under its tolerance)."""
    from onnx import numpy_helper

    from convstudy.converters import torch_onnx

    root = tmp_path_factory.mktemp("corrupted")
    folder = model_folder(root / "torch", "lenet5", "torch")
    good = root / "good.onnx"
    torch_onnx.convert(folder, ModelSpec.load(folder), good,
                       settings={"exporter": "dynamo", "opset": 18})  # fmt: skip
    model = onnx.load(str(good))
    inits = {t.name: t for t in model.graph.initializer}
    node = max(
        (n for n in model.graph.node if n.op_type == "Gemm"),
        key=lambda n: numpy_helper.to_array(inits[n.input[1]]).size,
    )
    weight = numpy_helper.to_array(inits[node.input[1]]).copy()
    weight.flat[weight.size // 3] += 0.76 * float(np.abs(weight).mean())
    inits[node.input[1]].CopyFrom(numpy_helper.from_array(weight, node.input[1]))
    bad = root / "bad.onnx"
    onnx.save(model, str(bad))
    return good, bad, node.name


def test_one_corrupted_weight_is_found_and_repaired(
    corrupted: tuple[Path, Path, str], tmp_path: Path
) -> None:
    good, bad, node = corrupted
    out = tmp_path / "loc"
    assert main(["localize", str(good), str(bad), "--out", str(out)]) == 0
    first = _document(out)["first_divergent"]
    assert (first["stage"], first["target_node"]) == ("parameters", node)
    assert first["metric"] == "relative_max_abs_diff" and first["value"] > 0.1
    repaired = tmp_path / "repaired.onnx"
    assert main(["repair", str(good), str(bad), "--out", str(repaired)]) == 0
    report = json.loads(repaired.with_suffix(".repair.json").read_text())["repair"]
    assert report["success"] and report["error_after"] == 0.0, report


def test_repair_acts_where_activations_first_diverge(
    corrupted: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """With the parameter stage made blind (a tolerance of 1) and the activations' sharp
    (one output unit of 120 moves), the activations name the layer, and the repair copies
    the source's parameters there."""
    good, bad, node = corrupted
    repaired = tmp_path / "repaired.onnx"
    args = ["repair", str(good), str(bad), "--out", str(repaired), "--parameter-tolerance", "1",
            "--tolerance", "1e-6"]  # fmt: skip
    assert main(args) == 0
    document = json.loads(repaired.with_suffix(".repair.json").read_text())
    assert document["localization"]["first_divergent"]["stage"] == "activations"
    assert document["repair"]["success"], document["repair"]
    assert [a["target_node"] for a in document["repair"]["actions"]] == [node]


def test_help_says_what_each_tolerance_governs(tmp_path: Path) -> None:
    done = _cli("localize", "--help", cwd=tmp_path)
    text = " ".join(done.stdout.split())
    assert "--tolerance TOLERANCE relative tolerance of the activations and the outputs" in text
    assert "--parameter-tolerance PARAMETER_TOLERANCE relative tolerance of the parameters" in text
    assert "largest element" in text and "--verbose" in text


# ---- what the command says


def test_summary_line_reads_right(corrupted: tuple[Path, Path, str], tmp_path: Path) -> None:
    """A hyperparameter divergence is shown with both settings, not a count."""
    good = corrupted[0]
    faulty, _ = FAULTS["padding_shift"](onnx.load(str(good)), np.random.default_rng(0))
    path = tmp_path / "faulty.onnx"
    onnx.save(faulty, str(path))
    done = _cli("localize", str(good), str(path), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert "pads: [" in done.stdout and "] -> [" in done.stdout, done.stdout
    assert "pads = " not in done.stdout


@pytest.fixture(scope="module")
def tflites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A float TFLite model, one with a fused LSTM op (tf_keras, static batch) and one whose
    op versions no desktop interpreter has (as a TFLite-Micro build may write)."""
    import flatbuffers
    import tensorflow as tf
    import tf_keras
    from tensorflow.lite.python import schema_py_generated as schema

    root = tmp_path_factory.mktemp("tflite")
    rng = np.random.default_rng(0)
    dense = tf_keras.Sequential([tf_keras.layers.Input((8,)), tf_keras.layers.Dense(4)])
    dense.set_weights([rng.normal(size=(8, 4)).astype(np.float32), np.zeros(4, np.float32)])
    paths = {"float": root / "float.tflite", "lstm": root / "lstm.tflite"}
    paths["float"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(dense).convert())
    lstm = tf_keras.Sequential([
        tf_keras.layers.Input((12,), batch_size=1, dtype="int32"),
        tf_keras.layers.Embedding(50, 8), tf_keras.layers.LSTM(8), tf_keras.layers.Dense(2),
    ])  # fmt: skip
    paths["lstm"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(lstm).convert())
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(paths["float"].read_bytes(), 0))
    for code in model.operatorCodes:
        code.version = 99
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    paths["micro"] = root / "micro.tflite"
    paths["micro"].write_bytes(bytes(builder.Output()))
    return paths


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("lstm", "TFLite op UNIDIRECTIONAL_SEQUENCE_LSTM is not supported by tf2onnx"),
        ("micro", "not a model the LiteRT interpreter runs: Didn't find op for builtin opcode"),
    ],
)
def test_tflite_refusals_give_the_cause_in_one_line(
    tflites: dict[str, Path], tmp_path: Path, model: str, message: str
) -> None:
    path = str(tflites[model])
    done = _cli("localize", path, path, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert lines[0].count("Didn't find op") <= 1
    assert not (tmp_path / "o").exists()


def test_no_library_chatter_unless_verbose(tflites: dict[str, Path], tmp_path: Path) -> None:
    path = str(tflites["float"])
    quiet = _cli("localize", path, path, "--samples", "4", "--out", str(tmp_path / "a"),
                 cwd=tmp_path)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert quiet.stdout.startswith("equivalent within tolerance")
    loud = _cli("localize", path, path, "--samples", "4", "--out", str(tmp_path / "b"),
                "--verbose", cwd=tmp_path)  # fmt: skip
    assert loud.returncode == 0 and loud.stderr.strip()


def test_silencing_leaves_the_environment_and_the_arithmetic_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command run in-process (as the tests do) leaves no variable behind for the jobs
    started after it, and none that changes TensorFlow's arithmetic (oneDNN) at all."""
    from convstudy.chatter import silenced

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    before = dict(os.environ)
    with silenced():
        assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"
        assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    assert dict(os.environ) == before


def test_opset11_graphs_are_localised(tmp_path: Path) -> None:
    """The TorchScript exporter at opset 11 against the dynamo export (opset 18)."""
    import torch

    from convstudy import frameworks

    folder = model_folder(tmp_path / "torch", "lenet5", "torch")
    spec = ModelSpec.load(folder)
    net = frameworks.load(folder, spec)
    old, new = tmp_path / "opset11.onnx", tmp_path / "opset18.onnx"
    x = torch.from_numpy(spec.example())
    torch.onnx.export(net, (x,), str(old), dynamo=False, opset_version=11, input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    torch.onnx.export(net, (x,), str(new), dynamo=True, opset_version=18, input_names=["x"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},))  # fmt: skip
    assert onnx.load(str(old)).opset_import[0].version == 11
    out = tmp_path / "loc"
    assert main(["localize", str(new), str(old), "--out", str(out)]) == 0
    assert _document(out)["first_divergent"] is None


def test_a_quantized_view_at_opset_21_runs_in_segments(tmp_path: Path, data_dir: Path) -> None:
    """VGG-16's full-int8 TFLite view at opset 21 (onnx's version converter), run segment by
    segment as the localizer does: onnxruntime's QDQ propagation wrote QuantizeLinear nodes
    whose declared type contradicted their zero point at the cuts, and the run stopped."""
    from onnx import version_converter

    from convstudy.localization.comparison.runner import TensorStream, run

    faithful("vgg16", tmp_path)  # the Keras twin the target is converted from
    calibration = targets.real_images("vgg16", data_dir, 0, targets.CALIBRATION)
    view = open_view(targets.make("tflite-int8", tmp_path, calibration), "target")
    model = version_converter.convert_version(view.model, 21)
    images = targets.real_images("vgg16", data_dir, targets.CALIBRATION, 4)
    feeds = {model.graph.input[0].name: adapt(images, view.model, "target")}
    names = [o for node in model.graph.node for o in node.output if o]
    values = dict(TensorStream(model, names, per_segment=6)(feeds))
    assert set(values) == set(names)
    np.testing.assert_array_equal(values[model.graph.output[0].name], run(model, feeds)[0])


def test_fault_injection_on_a_converted_target(data_dir: Path) -> None:
    """The evaluation's converted-target path: faults named, controls quiet, and a fault
    that changes nothing in that graph (a ReLU dropped before a quantizer that clamps at
    zero) recorded as having no effect rather than counted."""
    from convstudy.localization.evaluation.injection import evaluate, summary

    only = ["weight_noise", "dropped_activation", "identity_inserted"]
    cases = evaluate(["lenet5"], only=only, targets=("tflite-int8",), data_dir=data_dir)
    assert {c.target for c in cases} == {"tflite-int8"}
    counted = [c for c in cases if c.kind != "no_effect"]
    assert all(c.localised for c in counted), counted
    assert {c.fault for c in cases if c.kind == "no_effect"} <= {"dropped_activation"}
    (row,) = summary(cases)
    assert row["target"] == "tflite-int8" and row["false_alarms"] == 0
    assert row["localised"] == row["faults"] >= 1
