"""Fault localisation and repair: the command on real exports, planted faults, controls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import REPO
from helpers import model_folder

from convstudy.cli import main
from convstudy.converters import torch_onnx
from convstudy.localization import localize, validate
from convstudy.localization.evaluation.controls import CONTROLS
from convstudy.localization.evaluation.faults import FAULTS
from convstudy.localization.evaluation.injection import names_planted
from convstudy.localization.io.inputs import random_inputs
from convstudy.localization.repair.rounds import repair
from convstudy.spec import ModelSpec


def _export(folder: Path, exporter: str) -> Path:
    out = folder / f"{exporter}.onnx"
    torch_onnx.convert(
        folder, ModelSpec.load(folder), out, settings={"exporter": exporter, "opset": 18}
    )
    return out


@pytest.fixture(scope="module")
def lenet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A LeNet-5 model folder (varied weights) and its dynamo and TorchScript exports."""
    folder = model_folder(tmp_path_factory.mktemp("lenet") / "torch", "lenet5", "torch")
    return {
        "folder": folder,
        "state_dict": folder / "model.torch",
        "dynamo": _export(folder, "dynamo"),
        "torchscript": _export(folder, "torchscript"),
    }


@pytest.fixture(scope="module")
def inputs(lenet: dict[str, Path]) -> np.ndarray:
    return random_inputs(onnx.load(str(lenet["dynamo"])), 16, seed=0)


def test_cli_equivalent_exports(lenet: dict[str, Path], tmp_path: Path) -> None:
    """Two real exporters (BatchNorm folded, other names) are equivalent; every file is written."""
    out = tmp_path / "loc"
    assert (
        main(["localize", str(lenet["dynamo"]), str(lenet["torchscript"]), "--out", str(out)]) == 0
    )
    document = json.loads((out / "localization.json").read_text())
    validate(document)
    assert document["first_divergent"] is None
    assert len(document["matches"]) >= 5  # conv, conv, dense x3 at least
    for name in ("matches.csv", "parameters.csv", "activations.csv", "report.md", "layers.png"):
        assert (out / name).stat().st_size > 0, name


def test_cli_names_planted_layer(lenet: dict[str, Path], tmp_path: Path) -> None:
    """A weight perturbation in one layer is named by its node, in the parameter stage."""
    source = onnx.load(str(lenet["dynamo"]))
    faulty, planted = FAULTS["weight_noise"](source, np.random.default_rng(1))
    path = tmp_path / "faulty.onnx"
    onnx.save(faulty, str(path))
    out = tmp_path / "loc"
    assert main(["localize", str(lenet["dynamo"]), str(path), "--out", str(out)]) == 0
    first = json.loads((out / "localization.json").read_text())["first_divergent"]
    assert first["target_node"] == planted.node
    assert first["stage"] == "parameters"
    assert set(first) >= {"source_node", "target_node", "op_type", "stage", "metric", "value"}


def test_cli_state_dict_and_folder_views(lenet: dict[str, Path], tmp_path: Path) -> None:
    """A state dict (with its model name) and a model folder are verified ONNX views."""
    out = tmp_path / "loc"
    args = ["localize", str(lenet["state_dict"]), str(lenet["folder"]), "--model", "lenet5"]
    assert main([*args, "--out", str(out)]) == 0
    document = json.loads((out / "localization.json").read_text())
    assert document["first_divergent"] is None
    assert document["run"]["source"]["kind"] == "torch"
    assert document["run"]["source"]["view_relative_difference"] <= 1e-4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localize", "missing.onnx", "{dynamo}"], "source model missing.onnx: no such file"),
        (["localize", "{dynamo}", "{state_dict}"], "needs the model's name"),
        (["localize", "{dynamo}", "{dynamo}", "--inputs", "nothing.npy"], "no such file"),
        (["localize", "{readme}", "{dynamo}"], "unknown kind"),
        (["localize", "{state_dict}", "{dynamo}", "--model", "vgg16"], "not a vgg16 state_dict"),
        (["localize", "{dynamo}", "{dynamo}", "--samples", "0"], "--samples must be positive"),
    ],
)
def test_cli_bad_input_one_line(
    lenet: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad input exits non-zero with one line naming what is wrong (a real subprocess)."""
    paths = {**{k: str(v) for k, v in lenet.items()}, "readme": str(REPO / "README.md")}
    argv = [a.format(**paths) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "convstudy.cli", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_cli_repair(lenet: dict[str, Path], tmp_path: Path) -> None:
    """Repair of a changed padding brings the disagreement back to zero."""
    faulty, _ = FAULTS["padding_shift"](onnx.load(str(lenet["dynamo"])), np.random.default_rng(0))
    path = tmp_path / "faulty.onnx"
    onnx.save(faulty, str(path))
    out = tmp_path / "repaired.onnx"
    assert main(["repair", str(lenet["dynamo"]), str(path), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".repair.json").read_text())["repair"]
    assert report["success"] and report["complete"], report
    assert report["error_after"] < report["error_before"]
    again = tmp_path / "again"
    assert main(["localize", str(lenet["dynamo"]), str(out), "--out", str(again)]) == 0
    assert json.loads((again / "localization.json").read_text())["first_divergent"] is None


#: The model each fault or control is planted into: LeNet-5 (small) unless it needs a
#: BatchNorm node (a ResNet-18 export without graph optimisation) or a GRU.
PLANTED_IN = {"bn_epsilon": "resnet18", "folded_affine": "resnet18", "gate_swap": "gru"}


@pytest.fixture(scope="module")
def sources(
    lenet: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, onnx.ModelProto]:
    """Faithful exports to plant into: LeNet-5 (dynamo), a ResNet-18 that keeps its
    BatchNorm nodes (dynamo without optimisation), a small GRU (dynamo)."""
    import torch

    from convstudy import frameworks

    out = {"lenet5": onnx.load(str(lenet["dynamo"]))}
    for model in ("resnet18", "gru"):
        folder = model_folder(tmp_path_factory.mktemp(model) / "torch", model, "torch")
        spec = ModelSpec.load(folder)
        path = folder / "export.onnx"
        torch.onnx.export(
            frameworks.load(folder, spec), (torch.from_numpy(spec.example()),), str(path),
            dynamo=True, optimize=model != "resnet18", opset_version=18, external_data=False,
            input_names=["x"], output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )  # fmt: skip
        out[model] = onnx.load(str(path))
    return out


def _plant(sources: dict[str, onnx.ModelProto], table: dict, name: str) -> tuple:
    source = sources[PLANTED_IN.get(name, "lenet5")]
    target, planted = table[name](source, np.random.default_rng(0))  # NotApplicable: a defect
    return source, target, planted, random_inputs(source, 16, seed=0)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_planted_fault_is_localised_and_repaired(
    sources: dict[str, onnx.ModelProto], name: str
) -> None:
    source, target, planted, x = _plant(sources, FAULTS, name)
    loc = localize(source, target, x, x)
    assert names_planted(loc, planted), (planted, loc.first_divergent)
    _, result = repair(source, target, loc, source_inputs=x, target_inputs=x)
    assert result.complete, result


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_control_is_not_flagged(sources: dict[str, onnx.ModelProto], name: str) -> None:
    source, target, _, x = _plant(sources, CONTROLS, name)
    assert localize(source, target, x, x).first_divergent is None


def test_segments_equal_one_run(lenet: dict[str, Path], inputs: np.ndarray) -> None:
    """The bounded-memory segmented run computes what one run with every output computes."""
    source = onnx.load(str(lenet["dynamo"]))
    target, _ = FAULTS["bias_shift"](source, np.random.default_rng(0))
    segmented = localize(source, target, inputs, inputs, mode="segments", per_segment=1)
    whole = localize(source, target, inputs, inputs, mode="all")
    assert [a.relative for a in segmented.activations] == [a.relative for a in whole.activations]
    assert segmented.run["mode"] == "segments" and whole.run["mode"] == "all"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    from convstudy.data.prepare import prepare_dataset

    tmp = tmp_path_factory.mktemp("mnist")
    out = tmp / "mnist.npz"
    prepare_dataset(
        "mnist",
        local_dir=data_dir,
        raw_dir=tmp / "raw",
        out_npz=out,
        out_json=tmp / "mnist.json",
        val_size=1000,
        split_seed=0,
    )
    return out


def _route(lenet: dict[str, Path], tmp: Path, route: str) -> Path:
    """The route folders ``convert`` writes: ``onnx`` and ``onnx+onnx-fp16``."""
    from convstudy.converters import onnx_fp16

    folder = tmp / route
    folder.mkdir()
    spec = ModelSpec.load(lenet["folder"])
    onnx_spec = torch_onnx.convert(
        lenet["folder"], spec, folder / "model.onnx", settings={"exporter": "dynamo", "opset": 18}
    ).spec
    if route == "onnx":
        onnx_spec.dump(folder)
        return folder
    half = onnx_fp16.convert(folder, onnx_spec, tmp / "half.onnx", settings={"target": "onnx-fp16"})
    (tmp / "half.onnx").replace(folder / "model.onnx")
    half.spec.dump(folder)
    return folder


def test_job_on_route_folders(lenet: dict[str, Path], mnist: Path, tmp_path: Path) -> None:
    """The workflow job localizes the RQ1 FP16 route against the ONNX route on real MNIST
    test images; FP16 weights are a real parameter divergence, and the repair (FP32 values
    back in) brings the disagreement to at most the FP16 model's."""
    from convstudy.jobs import localize as job
    from convstudy.records import LocalizationRecord

    source, target = _route(lenet, tmp_path, "onnx"), _route(lenet, tmp_path, "onnx+onnx-fp16")
    out = tmp_path / "loc"
    record = job.run(
        model="lenet5",
        framework="torch",
        seed=0,
        source_route="onnx",
        target_route="onnx+onnx-fp16",
        source=source,
        target=target,
        data_path=mnist,
        settings={"tolerance": 1e-4, "scan": 200, "samples": 16},
        threads=1,
        out_dir=out,
    )
    assert record.status == "ok", record.reason
    assert record.n_inputs == 16
    assert record.stage in ("parameters", "activations", "hyperparameters")
    assert record.target_node
    assert record.disagreement_after is not None and record.disagreement_before is not None
    assert record.disagreement_after <= record.disagreement_before
    assert LocalizationRecord.load(out / "localization_record.json") == record
    validate(json.loads((out / "localization.json").read_text()))


def test_select_puts_disagreements_first() -> None:
    from convstudy.jobs.localize import select

    s = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    t = np.array([[0.9, 0.0], [0.0, 1.0], [0.5, 0.0], [1.0, 0.0]])
    assert select(s, t, 2).tolist() == [1, 2]


def test_first_divergent_hop_blames_fp16(lenet: dict[str, Path], tmp_path: Path) -> None:
    """PyTorch -> ONNX -> ONNX FP16 with real converters: the FP16 hop is the first to
    diverge, the export is not blamed."""
    from convstudy import frameworks
    from convstudy.localization.comparison.hops import first_divergent_hop
    from convstudy.localization.comparison.runner import run as run_onnx

    spec = ModelSpec.load(lenet["folder"])
    x = spec.example(batch=16, seed=1)
    torch_out = frameworks.adapter("torch").predictor(frameworks.load(lenet["folder"], spec))(x)
    folders = [_route(lenet, tmp_path, route) for route in ("onnx", "onnx+onnx-fp16")]
    outs = [run_onnx(onnx.load(str(f / "model.onnx")), {"x": x})[0] for f in folders]
    hops = first_divergent_hop([torch_out, *outs])
    assert hops.first == 2, hops
    assert hops.relative[0] < 1e-5 < hops.relative[1]


def test_cli_keras_savedmodel_tflite_views(tmp_path: Path) -> None:
    """A .keras archive, its SavedModel export and the TFLite model converted from that are
    verified ONNX views of one function: pairwise equivalent, NHWC kept."""
    import keras
    import tensorflow as tf

    folder = model_folder(tmp_path / "keras", "lenet5", "keras")
    net = keras.models.load_model(folder / "model.keras", compile=False, safe_mode=True)
    net.export(str(tmp_path / "saved"), verbose=False)
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved")).convert())
    for source, target in (
        (folder / "model.keras", tmp_path / "saved"),
        (tmp_path / "saved", tflite),
    ):
        out = tmp_path / f"loc-{target.name}"
        assert (
            main(["localize", str(source), str(target), "--samples", "8", "--out", str(out)]) == 0
        )
        document = json.loads((out / "localization.json").read_text())
        assert document["first_divergent"] is None
        for role in ("source", "target"):
            assert document["run"][role]["view_relative_difference"] <= 1e-4
        assert document["outputs"]["relative"] < 1e-5


def test_benchmark_beside_polygraphy(tmp_path: Path) -> None:
    """Each tool ran in its own measured process; the localization named the planted
    layer in both modes and Polygraphy saw the mismatch (exit status 1)."""
    from convstudy.localization.evaluation.benchmark import run as benchmark

    table = benchmark("lenet5", 8, tmp_path).set_index("tool")
    assert len(table) == 3
    assert (table["seconds"] > 0).all() and (table["peak_mib"] > 10).all()
    ours = table.loc[["convstudy localize (segments)", "convstudy localize --mode all"]]
    assert (ours["exit_status"] == 0).all()
    assert (ours["named"] == ours["planted"]).all()
    assert table.loc["polygraphy run --onnx-outputs mark all", "exit_status"] == 1


def test_job_finds_the_hop_from_the_trained_model(
    lenet: dict[str, Path], mnist: Path, tmp_path: Path
) -> None:
    """original (the PyTorch model folder) -> onnx -> onnx+onnx-fp16: the FP16 hop is the
    first whose outputs diverge; the PyTorch model is compared through its verified view."""
    from convstudy.jobs import localize as job

    _route(lenet, tmp_path, "onnx")
    target = _route(lenet, tmp_path, "onnx+onnx-fp16")
    record = job.run(
        model="lenet5", framework="torch", seed=0, source_route="original",
        target_route="onnx+onnx-fp16", source=lenet["folder"], target=target, data_path=mnist,
        settings={"tolerance": 1e-4, "scan": 100, "samples": 8}, threads=1,
        out_dir=tmp_path / "loc",
    )  # fmt: skip
    assert record.status == "ok", record.reason
    assert record.hops == ["onnx", "onnx+onnx-fp16"]
    assert record.first_hop == "onnx+onnx-fp16", record.hop_relative
    assert record.hop_relative[0] < 1e-5


def test_intermediate_routes() -> None:
    from convstudy.jobs.localize import intermediate_routes

    assert intermediate_routes("original", "onnx+onnx-fp16") == ["onnx", "onnx+onnx-fp16"]
    assert intermediate_routes("onnx", "onnx+onnx-fp16") == ["onnx+onnx-fp16"]
    assert intermediate_routes("coreml-fp32", "onnx") == ["onnx"]


def _mobile_net() -> object:
    """A CNN outside the study: depthwise dilated convolution, concatenation,
    squeeze-and-excitation, Hardswish, ReLU6, SiLU, BatchNorm with trained-like statistics."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.Hardswish())
            self.dw = nn.Sequential(
                nn.Conv2d(16, 16, 3, 1, 2, dilation=2, groups=16), nn.BatchNorm2d(16), nn.ReLU6()
            )
            self.pw = nn.Sequential(nn.Conv2d(32, 24, 1), nn.BatchNorm2d(24), nn.SiLU())
            self.se = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Conv2d(24, 8, 1), nn.ReLU(), nn.Conv2d(8, 24, 1),
                nn.Sigmoid(),
            )  # fmt: skip
            self.head = nn.Linear(24, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.a(x)
            p = self.pw(torch.cat([a, self.dw(a)], 1))
            p = p * self.se(p)
            return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(p, 1), 1))

    torch.manual_seed(0)
    net = Net().eval()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.3, 2.0)
    return net


def test_any_opset17_cnn(tmp_path: Path) -> None:
    """ONNX against ONNX for a CNN the study does not define: the dynamo (opset 18) and
    TorchScript (opset 17) exports are equivalent; planted faults are named and repaired."""
    import torch

    net, x = _mobile_net(), torch.rand(2, 3, 32, 32)
    dyn, ts = tmp_path / "dynamo.onnx", tmp_path / "torchscript.onnx"
    torch.onnx.export(net, (x,), str(dyn), dynamo=True, opset_version=18, input_names=["x"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},))  # fmt: skip
    torch.onnx.export(net, (x,), str(ts), dynamo=False, opset_version=17, input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    assert main(["localize", str(dyn), str(ts), "--out", str(tmp_path / "loc")]) == 0
    document = json.loads((tmp_path / "loc" / "localization.json").read_text())
    assert document["first_divergent"] is None
    source = onnx.load(str(dyn))
    inputs = random_inputs(source, 16, seed=0)
    for name in ("padding_shift", "activation_swap", "weight_noise", "pool_swap"):
        target, planted = FAULTS[name](source, np.random.default_rng(1))
        loc = localize(source, target, inputs, inputs)
        assert names_planted(loc, planted), (name, loc.first_divergent)
        assert repair(source, target, loc, source_inputs=inputs, target_inputs=inputs)[1].complete


def test_matrix_route_folders(tmp_path: Path) -> None:
    """Model folders of the conversion matrix (SavedModel, TFLite written by the study's
    converters) against their Keras source: verified views, equivalent."""
    from convstudy import registry
    from convstudy.converters import keras_savedmodel, tflite_converter

    keras_folder = model_folder(tmp_path / "keras", "lenet5", "keras")
    spec = ModelSpec.load(keras_folder)
    for name, module, settings in (
        ("savedmodel", keras_savedmodel, {"unroll": False}),
        ("tflite", tflite_converter, {"unroll": True}),
    ):
        out = tmp_path / name
        out.mkdir()
        artifact = out / registry.fmt(name).artifact
        module.convert(keras_folder, spec, artifact, settings=settings).spec.dump(out)
        loc = tmp_path / f"loc-{name}"
        assert (
            main(["localize", str(keras_folder), str(out), "--samples", "8", "--out", str(loc)])
            == 0
        )
        document = json.loads((loc / "localization.json").read_text())
        assert document["first_divergent"] is None
        assert document["run"]["target"]["kind"] == name


def test_torch_fx_folder_view(tmp_path: Path) -> None:
    """A module onnx2torch built (the matrix's torch-fx format) is seen through its own
    re-export, verified against the module's outputs: equivalent to its ONNX source, and a
    weight changed in the module is found."""
    import torch

    from convstudy import registry
    from convstudy.converters import onnx2torch, torch_onnx
    from convstudy.converters.onnx2torch import WEIGHTS_FILE

    torch_folder = model_folder(tmp_path / "torch", "lenet5", "torch")
    spec = ModelSpec.load(torch_folder)
    onnx_folder = tmp_path / "onnx"
    onnx_folder.mkdir()
    settings = {"exporter": "dynamo", "opset": 18}
    onnx_spec = torch_onnx.convert(
        torch_folder, spec, onnx_folder / "model.onnx", settings=settings
    ).spec
    onnx_spec.dump(onnx_folder)
    fx_folder = tmp_path / "fx"
    fx_folder.mkdir()
    artifact = fx_folder / registry.fmt("torch-fx").artifact
    onnx2torch.convert(onnx_folder, onnx_spec, artifact, settings={}).spec.dump(fx_folder)
    loc = tmp_path / "loc"
    assert (
        main(["localize", str(onnx_folder), str(fx_folder), "--samples", "8", "--out", str(loc)])
        == 0
    )
    document = json.loads((loc / "localization.json").read_text())
    assert document["first_divergent"] is None
    assert document["run"]["target"]["kind"] == "torch-fx"
    assert document["run"]["target"]["view_relative_difference"] < 1e-5
    state = torch.load(artifact / WEIGHTS_FILE, weights_only=True)
    name = next(k for k, v in state.items() if v.ndim == 4)  # the first convolution
    state[name] = state[name] * 1.5
    torch.save(state, artifact / WEIGHTS_FILE)
    assert (
        main(["localize", str(onnx_folder), str(fx_folder), "--samples", "8", "--out", str(loc)])
        == 0
    )
    first = json.loads((loc / "localization.json").read_text())["first_divergent"]
    assert first is not None and first["op_type"] == "Conv" and first["stage"] == "parameters"


def _branches(order: tuple[int, ...], nested: bool, swap_weights: bool = False) -> onnx.ModelProto:
    """Four 1x1 convolutions of one input (two of the same shape), concatenated: written
    in the node order ``order``, as one concat or as concat(concat, concat)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(c, 3, 1, 1)).astype(np.float32) for c in (4, 4, 2, 6)]
    if swap_weights:
        weights[0], weights[1] = weights[1], weights[0]
    init = [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)]
    convs = [helper.make_node("Conv", ["x", f"w{i}"], [f"b{i}"], name=f"conv{i}") for i in order]
    if nested:
        concats = [
            helper.make_node("Concat", ["b0", "b1"], ["c01"], axis=1, name="inner01"),
            helper.make_node("Concat", ["b2", "b3"], ["c23"], axis=1, name="inner23"),
            helper.make_node("Concat", ["c01", "c23"], ["y"], axis=1, name="outer"),
        ]
    else:
        concats = [helper.make_node("Concat", [f"b{i}" for i in range(4)], ["y"], axis=1)]
    graph = helper.make_graph(
        [*convs, *concats],
        "branches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16, 5, 5])],
        init,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_parallel_branches_in_another_order_and_nested_concats_are_the_same_function() -> None:
    """An Inception block as two converters write it: the branches in another node order
    (two of one shape), and concat(concat(a, b), concat(c, d)) for concat(a, b, c, d)."""
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 5)).astype(np.float32)
    source = _branches((0, 1, 2, 3), nested=False)
    for target in (_branches((1, 0, 3, 2), nested=False), _branches((1, 0, 2, 3), nested=True)):
        assert localize(source, target, x, x).first_divergent is None
    # the two same-shape branches really different: still found, at one of them
    swapped = localize(source, _branches((0, 1, 2, 3), nested=True, swap_weights=True), x, x)
    assert swapped.first_divergent is not None


def _half_weights_model(order: list[int], prefix: str) -> onnx.ModelProto:
    """x -> MatMul W0 -> MatMul W1, each weight stored in float16 and cast to float32 (as a
    float16 TFLite file's view has them), its cast and stored copy in ``order`` under
    generated names starting with ``prefix``."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(4, 4)).astype(np.float16) for _ in range(2)]
    inits = [numpy_helper.from_array(weights[i], f"{prefix}{i}") for i in order]
    casts = [
        helper.make_node("Cast", [f"{prefix}{i}"], [f"W{i}"], to=TensorProto.FLOAT) for i in order
    ]
    matmuls = [
        helper.make_node("MatMul", ["x", "W0"], ["h"]),
        helper.make_node("MatMul", ["h", "W1"], ["y"]),
    ]
    graph = helper.make_graph(
        [*casts, *matmuls], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        inits,
    )  # fmt: skip
    return helper.make_model(graph)


def test_the_float_twin_does_not_depend_on_the_order_or_names_of_the_weights() -> None:
    # tf2onnx may emit a float16 file's weights in another order under other generated
    # names from one run to the next: the expected quantization error (and with it what
    # localization calls divergent) must not change with that
    from onnx import numpy_helper

    from convstudy.localization.graph.quantization import float_twin

    def moved(model: onnx.ModelProto) -> dict[str, np.ndarray]:
        twin = float_twin(model, 0)
        return {
            i.name: numpy_helper.to_array(i) for i in twin.graph.initializer if i.name[0] == "W"
        }

    a = moved(_half_weights_model([0, 1], "const_fold_opt__1"))
    b = moved(_half_weights_model([1, 0], "const_fold_opt__7"))
    assert a.keys() == b.keys() == {"W0", "W1"}
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    # each weight moved, within half its float16 step
    model = _half_weights_model([0, 1], "w")
    for i in (0, 1):
        stored = numpy_helper.to_array(model.graph.initializer[i]).astype(np.float64)
        step = np.abs(np.spacing(stored.astype(np.float16))).astype(np.float64)
        shift = a[f"W{i}"].astype(np.float64) - stored
        assert np.any(shift != 0) and np.all(np.abs(shift) <= 0.5 * step + 1e-12)
