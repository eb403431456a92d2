"""Hostile input: every bad file, value or path is refused up front with one line naming it
(exit status 2 for the ``convstudy`` command, one ``convstudy:`` line for the workflow),
nothing is written on refusal and no finished output is lost. Kept here so that every new
format or command is held to the same cases."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, TINY, snakemake

from convstudy.config import validate
from convstudy.errors import ConfigError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _changed(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULT)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value
    return config


# ---- configuration: every key that names a format, model, attack, path or seed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seeds": [10**29]}, "'seeds.0': 100000000000000000000000000000 is greater than the maximum of 4294967295"),
        ({"seeds": [2**32]}, "'seeds.0': 4294967296 is greater than the maximum of 4294967295"),
        ({"robustness__seeds": [-1]}, "'robustness.seeds.0': -1 is less than the minimum of 0"),
        ({"matrix__seeds": [2**40]}, "'matrix.seeds.0': 1099511627776 is greater than the maximum"),
        ({"matrix__paths": {"torch": [["onnx", "fp64"]]}}, "'matrix.paths.torch.0.1': 'fp64' is not one of"),
        ({"matrix__paths": {"jax": [["onnx"]]}}, "'matrix.paths.jax': not one of torch, keras"),
        ({"matrix__paths": {"keras": [["torch-fx"]]}}, "'matrix.paths.keras.0': no converter from 'keras' to 'torch-fx'"),
        ({"matrix__source_paths": {"onnx": [["coreml-fp64"]]}}, "'matrix.source_paths.onnx.0.0': 'coreml-fp64' is not one of"),
        ({"models": ["lenet5", "lenet6"]}, "'models.1': 'lenet6' is not one of"),
        ({"formats": ["onnx", "tflite2"]}, "'formats.1': 'tflite2' is not one of"),
        ({"robustness__attacks": ["fgsm", "pgd"]}, "'robustness.attacks.1': 'pgd' is not one of"),
        (
            {"imported_models": [{"model": "lenet5", "framework": "torch", "seed": 0, "path": "/nonexistent/lenet5.torch"}]},
            "'imported_models.0.path': /nonexistent/lenet5.torch: no such file",
        ),
    ],
)  # fmt: skip
def test_config_values_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        validate(_changed(**changes), SCHEMA)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_workflow_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "seeds: [100000000000000000000000000000]\nmatrix:\n  paths: {torch: [[onnx, fp64]]}\n"
    )
    done = snakemake(tmp_path, "-n", configfiles=(bad,))
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()
    assert last[-1].startswith("convstudy: invalid config key 'seeds.0'")
    assert "Traceback" not in done.stderr


# ---- a corrupt or moved dataset copy


def _mnist_copy(folder: Path, data_dir: Path, *, flip: str | None = None) -> Path:
    """A copy of the MNIST files of ``data_dir`` in ``folder``; ``flip``: a file with one
    byte changed."""
    (folder / "mnist").mkdir(parents=True)
    for source in sorted((data_dir / "mnist").iterdir()):
        data = bytearray(source.read_bytes())
        if source.name == flip:
            data[len(data) // 2] ^= 0xFF
        (folder / "mnist" / source.name).write_bytes(bytes(data))
    return folder


@pytest.mark.slow
def test_a_corrupt_copy_loses_no_prepared_data_and_a_moved_one_reruns_nothing(
    tmp_path: Path, data_dir: Path
) -> None:
    work, target = tmp_path / "run", "data/prepared/mnist.npz"
    mnist_only = tmp_path / "mnist.yaml"
    # MNIST only: the copy holds no other dataset (the Louloudakis grid reads CIFAR-10)
    mnist_only.write_text("models: [lenet5]\nmatrix: {seeds: []}\nlouloudakis: {seeds: []}\n")

    def run(*args: str, copy: Path) -> subprocess.CompletedProcess[str]:
        env = {"CONVSTUDY_DATA_DIR": str(copy)}
        return snakemake(work, *args, target, configfiles=(mnist_only,), env=env)

    done = run("--cores", "1", copy=data_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    prepared = [work / "data/prepared/mnist.npz", work / "data/prepared/mnist.json"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in prepared]
    # the same bytes in another folder: nothing to do
    moved = _mnist_copy(tmp_path / "moved", data_dir)
    done = run("-n", copy=moved)
    assert done.returncode == 0 and "Nothing to be done" in done.stdout + done.stderr
    # a copy with a flipped byte, forced: refused in one line naming the file and both
    # checksums, and the prepared files are the ones from before, bytes and times
    labels = "train-labels-idx1-ubyte.gz"
    corrupt = _mnist_copy(tmp_path / "corrupt", data_dir, flip=labels)
    done = run("--cores", "1", "--forcerun", "prepare_dataset", copy=corrupt)
    assert done.returncode != 0
    refusal = [line for line in done.stderr.splitlines() if line.startswith("convstudy:")]
    assert len(refusal) == 1 and str(corrupt / "mnist" / labels) in refusal[0]
    assert "sha256" in refusal[0] and "expected" in refusal[0]
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in prepared] == before


# ---- artifacts independent of where the checkout lies


def _artifacts(run: Path, model: str) -> dict[str, Path]:
    roots = [run / "results/models" / model, run / "results/converted" / model]
    return {
        str(p.relative_to(run)): p
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".json")  # records carry times and hosts
    }


#: Files whose bytes differ between any two runs, wherever they lie (not the location):
#: a Keras archive's save date and Python object ids; tf2onnx's generated names (numbered
#: in the order of sets of graph objects); a SavedModel's fingerprint and a Keras export's
#: object graph; CoreML's random identifiers, generated names and conversion date. Their weights
#: are compared instead.
RUN_UNIQUE = ("model.keras", "keras/seed0/onnx", "keras/seed0/tflite+onnx", "fingerprint.pb",
              "keras/seed0/savedmodel/", "model.mlpackage", "model.mlmodel")  # fmt: skip


@pytest.mark.slow
def test_two_clones_write_the_same_models(tiny_run: Path, tmp_path: Path, data_dir: Path) -> None:
    """The tiny run's LeNet-5 cells, made again by a copy of the checkout at another path:
    no path of either checkout (or of the environment) in any model file, the same bytes
    wherever the converter is deterministic, and the same Table IV sizes."""
    import onnx

    clone = tmp_path / ("elsewhere-with-a-longer-name" * 2)
    clone.mkdir()
    for name in ("Snakefile", "src", "workflow", "config", "envs"):
        copy_tree = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy_tree(REPO / name, clone / name)
    run = clone / "run"
    only_lenet = tmp_path / "lenet5.yaml"
    only_lenet.write_text("models: [lenet5]\nablation: {matched_init: {models: [], seeds: null}}\n")
    targets = [t.replace(str(tiny_run) + "/", "") for t in map(str, _artifact_folders(tiny_run))]
    done = snakemake(
        run, "--cores", "2", *targets, configfiles=(TINY, only_lenet), snakefile=clone / "Snakefile"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ours, theirs = _artifacts(tiny_run, "lenet5"), _artifacts(run, "lenet5")
    assert set(ours) == set(theirs) and len(ours) > 10
    paths = [str(REPO).encode(), str(clone).encode(), sys.prefix.encode()]
    for name, path in [*ours.items(), *theirs.items()]:
        data = path.read_bytes()
        assert not any(p in data for p in paths), f"{name} holds a local path"
    for name in ours:
        if not any(part in name for part in RUN_UNIQUE):
            assert ours[name].read_bytes() == theirs[name].read_bytes(), name
        elif name.endswith(".onnx"):
            weights = [
                sorted(
                    onnx.numpy_helper.to_array(t).tobytes()
                    for t in onnx.load(str(p)).graph.initializer
                )
                for p in (ours[name], theirs[name])
            ]
            assert weights[0] == weights[1], name
    sizes = [
        {
            k: p.stat().st_size // 1000
            for k, p in files.items()
            if k.endswith(("model.torch", ".onnx", ".tflite"))
        }
        for files in (ours, theirs)
    ]
    assert sizes[0] == sizes[1]  # Table IV's resolution (kB)


def _artifact_folders(run: Path) -> list[Path]:
    """The LeNet-5 model folders of a finished run (trained and converted)."""
    converted = sorted((run / "results/converted/lenet5").glob("*/seed*/*"))
    return sorted((run / "results/models/lenet5").glob("*/seed*")) + converted


# ---- convstudy localize / repair: every bad input refused before the work, in one line


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A good ONNX model and a torch model folder, non-finite inputs, a model declaring a
    huge input, one with a custom-domain op, an existing file and folder, unwritable paths."""
    import numpy as np
    import onnx
    from helpers import model_folder
    from onnx import TensorProto, helper

    from convstudy.converters import torch_onnx
    from convstudy.spec import ModelSpec

    root = tmp_path_factory.mktemp("hostile")
    folder = model_folder(root / "torch", "lenet5", "torch")
    good = root / "good.onnx"
    torch_onnx.convert(folder, ModelSpec.load(folder), good,
                       settings={"exporter": "dynamo", "opset": 18})  # fmt: skip
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = x.copy()
        bad[1, 0, 3, 3] = value
        np.save(root / f"{name}.npy", bad)

    def one_op(path: Path, op: str, domain: str, shape: list[object]) -> None:
        graph = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"], domain=domain)], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        )  # fmt: skip
        opsets = [helper.make_opsetid("", 18)] + (
            [helper.make_opsetid(domain, 1)] if domain else []
        )
        model = helper.make_model(graph, opset_imports=opsets, ir_version=10)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))

    one_op(root / "huge.onnx", "Relu", "", ["N", 3, 100000, 100000])
    one_op(root / "custom.onnx", "Frobnicate", "com.example", ["N", 4])
    (root / "afile").write_text("not a folder")
    (root / "afolder").mkdir()
    return {
        "good": str(good), "folder": str(folder), "nan": str(root / "nan.npy"),
        "inf": str(root / "inf.npy"), "huge": str(root / "huge.onnx"),
        "custom": str(root / "custom.onnx"), "afile": str(root / "afile"),
        "afolder": str(root / "afolder"), "proc": "/proc/convstudy-hostile/out",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localize", "{good}", "{good}", "--inputs", "{nan}", "--out", "{out}"], "{nan}: 1 values are NaN or infinite"),
        (["localize", "{good}", "{good}", "--inputs", "{inf}", "--out", "{out}"], "{inf}: 1 values are NaN or infinite"),
        (["repair", "{good}", "{good}", "--inputs", "{nan}", "--out", "{out}.onnx"], "--inputs {nan}: 1 values are NaN"),
        (["localize", "{folder}", "{good}", "--inputs", "{nan}", "--out", "{out}"], "--inputs {nan}: 1 values are NaN"),
        (["localize", "{huge}", "{huge}", "--out", "{out}"], "(dimension 2 is 100000), over the cap of 1.0 GiB (MAX_BATCH_BYTES)"),
        (["localize", "{good}", "{good}", "--samples", "1e12", "--out", "{out}"], "(batch size is 1000000000000), over the cap"),
        (["localize", "{good}", "{good}", "--samples", "lots", "--out", "{out}"], "argument --samples: not a number: 'lots'"),
        (["localize", "{custom}", "{custom}", "--out", "{out}"], "op 'Frobnicate' of domain 'com.example' is not one onnxruntime runs"),
        (["localize", "{good}", "{good}", "--out", "{afile}"], "--out {afile}: exists and is not a folder"),
        (["localize", "{good}", "{good}", "--out", "{proc}"], "--out {proc}: /proc is not writable"),
        (["repair", "{good}", "{good}", "--out", "{afolder}"], "--out {afolder}: is a folder"),
        (["repair", "{good}", "{good}", "--out", "{proc}.onnx"], "/proc is not writable"),
        (["repair", "{good}", "{good}", "--out", "{afile}/repaired.onnx"], "{afile} is a file, not a folder"),
        (["localize", "missing.onnx", "{good}", "--out", "{out}"], "source model missing.onnx: no such file or folder"),
        (["localize", "{good}", "{good}", "--tolerance", "-1", "--out", "{out}"], "--tolerance must be positive"),
    ],
)  # fmt: skip
def test_localize_and_repair_refuse_in_one_line_and_write_nothing(
    hostile: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    paths = {**hostile, "out": str(tmp_path / "out")}
    done = subprocess.run(
        [sys.executable, "-m", "convstudy.cli", *(a.format(**paths) for a in args)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(**paths) in lines[0], done.stderr[-2000:]
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
    assert not Path(hostile["afolder"]).joinpath("x").exists()
