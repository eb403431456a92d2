"""The registry: routes, look-ups, every entry's module, and adding a format to it."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, snakemake

from convstudy import registry

# What a new format needs (docs/developing.md, "Adding a format"): one format module (its
# artifact, its runtime, its ONNX view, the detection of a brought file), one converter module
# and their registry entries. The tests below do exactly that in a copy of the checkout: ONNX
# run by onnx's reference evaluator, a runtime of its own.
DUMMY_FORMAT = '''
"""ONNX run by onnx's reference evaluator (an example format with a runtime of its own)."""

from pathlib import Path

import numpy as np

from convstudy.formats import OnnxView, Signature
from convstudy.formats import onnx as onnx_format

ARTIFACT = "model.onnxref"
SUFFIXES = (".onnxref",)


def detect(path: Path) -> str | None:
    return "onnx-ref" if path.is_file() and path.suffix == ".onnxref" else None


def signature(artifact: Path) -> Signature:
    return onnx_format.signature(artifact)


def load(artifact, spec, *, threads, settings=None):
    import onnx
    from onnx.reference import ReferenceEvaluator

    session = ReferenceEvaluator(onnx.load(str(artifact)))
    name = session.input_names[0]
    return lambda x: np.asarray(session.run(None, {name: x})[0])


def onnx_view(artifact: Path, spec) -> OnnxView:
    import onnx

    return OnnxView(onnx.load(str(artifact)), load(artifact, spec, threads=1), "the file itself")
'''
DUMMY_CONVERTER = '''
"""ONNX to and from the onnx-ref format: the same graph, in another file."""

import onnx

from convstudy import registry
from convstudy.converters import Converted


def convert(source, spec, out, *, settings):
    onnx.save(onnx.load(str(source / registry.fmt(spec.format).artifact)), str(out))
    return Converted(spec.converted(settings["target"]), {"converter": "copy"})
'''
DUMMY_ENTRIES = {
    '        Runtime("onnxruntime", "onnxruntime", ("onnxruntime",)),\n': (
        '        Runtime("onnx-reference", "onnxruntime", ("onnx",)),\n'
    ),
    '        Format("onnx", "convstudy.formats.onnx", "onnxruntime", "ONNX"),\n': (
        '        Format("onnx-ref", "convstudy.formats.onnx_ref", "onnx-reference", "ONNX, reference'
        ' evaluator", via="onnx"),\n'
    ),
    "CONVERTERS: dict[str, Converter] = {\n    c.name: c\n    for c in (\n": (
        '        Converter("onnx-ref", "convstudy.converters.onnx_ref", "onnxruntime", ("onnx",),'
        ' "onnx_ref", (("onnx", "onnx-ref"), ("onnx-ref", "onnx"))),\n'
    ),
}
#: The new format in a small run: LeNet-5 in PyTorch, through ONNX into it; a brought model
#: of that format converted back to ONNX. Nothing else of the study.
DUMMY_CONFIG = """
models: [lenet5]
frameworks: [torch]
seeds: [0]
formats: [onnx, onnx-ref]
training:
  lenet5: {{subset: {{train: 512, val: 128, test: 128}}, optimizer: sgd, lr: 0.05, momentum: 0.9,
           weight_decay: 0.0, epochs: 1, batch_size: 128, arch: {{}}}}
evaluation: {{batch_size: 64, warmup: 0, repeats: 5, exclusive: false}}
robustness: {{attacks: [], direct: []}}
ablation: {{matched_init: {{models: [], seeds: null}}}}
localization: {{seeds: []}}
matrix:
  seeds: []
  sources: [{{name: mine, path: {brought}}}]
  source_paths: {{onnx-ref: [[onnx]]}}
"""


def test_routes() -> None:
    assert registry.route("torch", "onnx") == ("onnx",)
    assert registry.route("keras", "coreml-fp16") == ("coreml-fp16",)
    assert registry.last_hop("keras", "onnx") == ("keras", "onnx")
    assert registry.parent_route("onnx") is None
    assert registry.route_prefixes("a+b+c") == ["a", "a+b", "a+b+c"]
    assert registry.hop_env("torch", "coreml-fp32") == "coreml"
    assert registry.target_runtime("keras", "original").name == "keras"
    assert registry.target_runtime("keras", "onnx").name == "onnxruntime"
    with pytest.raises(KeyError, match="unknown format 'tflite2'"):
        registry.route("torch", "tflite2")
    with pytest.raises(KeyError, match="no converter from 'onnx' to 'torch'"):
        registry.converter("onnx", "torch")


def test_every_entry_points_at_a_module_with_the_interface() -> None:
    for entry in registry.CONVERTERS.values():
        assert set(inspect.signature(registry.module(entry.module).convert).parameters) == {
            "source", "spec", "out", "settings"
        }  # fmt: skip
        for source, target in entry.hops:
            assert source in registry.FORMATS and target in registry.FORMATS
    format_api = {"ARTIFACT", "detect", "signature", "load", "onnx_view"}
    for fmt in registry.FORMATS.values():
        module = registry.module(fmt.module)
        assert format_api <= set(dir(module)), fmt.name
        assert {"threads", "settings"} <= set(inspect.signature(module.load).parameters)
    adapter_api = {"seed", "limit_threads", "save", "load", "predictor", "weights", "trainer"}
    for framework in registry.FRAMEWORKS.values():
        assert adapter_api <= set(dir(registry.module(framework.adapter)))
        assert framework.name in registry.FORMATS and framework.name in registry.RUNTIMES
    for fmt in registry.FORMATS.values():
        assert fmt.runtime in registry.RUNTIMES
    for model in registry.MODELS.values():
        assert model.dataset in registry.NUM_CLASSES
        for framework in registry.FRAMEWORKS:
            assert hasattr(registry.module(model.module), f"build_{framework}")


@pytest.fixture(scope="module")
def checkout_with_a_new_format(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout with one more format: two modules, three registry entries."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in ("Snakefile", "src", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    (copy / "src/convstudy/formats/onnx_ref.py").write_text(DUMMY_FORMAT)
    (copy / "src/convstudy/converters/onnx_ref.py").write_text(DUMMY_CONVERTER)
    registry_file = copy / "src/convstudy/registry.py"
    text = registry_file.read_text()
    for anchor, entry in DUMMY_ENTRIES.items():
        assert anchor in text, anchor
        text = text.replace(anchor, anchor + entry)
    registry_file.write_text(text)
    return copy


@pytest.mark.slow
def test_a_new_format_runs_end_to_end(
    checkout_with_a_new_format: Path, tmp_path: Path, data_dir: Path
) -> None:
    """A hop into the new format, a prediction in its own runtime, a brought model of the
    format converted back to ONNX, and its localization view, all really run."""
    copy = checkout_with_a_new_format
    brought = tmp_path / "mine.onnxref"
    shutil.copy(_small_onnx(tmp_path / "mine.onnx"), brought)
    config = tmp_path / "new-format.yaml"
    config.write_text(DUMMY_CONFIG.format(brought=brought))
    done = snakemake(tmp_path, "--cores", "2", configfiles=[config], snakefile=copy / "Snakefile")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tables = tmp_path / "results" / "tables"
    predictions = pd.read_csv(tables / "predictions.csv")
    ran = predictions.set_index("target")
    assert ran.loc["onnx+onnx-ref", "status"] == "ok" and ran.loc["onnx+onnx-ref", "runtime"] == (
        "onnx-reference"
    )
    comparisons = pd.read_csv(tables / "comparisons.csv").set_index("format")
    assert comparisons.loc["onnx+onnx-ref", "disagreement"] == 0.0
    assert comparisons.loc["onnx+onnx-ref", "abs_error_logit"] < 1e-5
    sources = pd.read_csv(tmp_path / "results" / "report" / "matrix_sources.csv")
    assert list(sources["source"]) == ["onnx-ref"] and list(sources["status"]) == ["ok"]
    # the localization sees the new format through its module's view, verified against its
    # own runtime
    cli = subprocess.run(
        [sys.executable, "-m", "convstudy.cli", "localize",
         str(tmp_path / "results/converted/lenet5/torch/seed0/onnx"),
         str(tmp_path / "results/converted/lenet5/torch/seed0/onnx+onnx-ref"),
         "--out", str(tmp_path / "localization")],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(copy / "src")},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert cli.stdout.startswith("equivalent within tolerance")
    document = json.loads((tmp_path / "localization" / "localization.json").read_text())
    assert document["run"]["target"]["kind"] == "onnx-ref"
    assert document["run"]["target"]["view"] == "the file itself"


def _small_onnx(path: Path) -> Path:
    """A small CNN (NCHW, dynamic batch) exported to ONNX."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 5),
    ).eval()  # fmt: skip
    torch.onnx.export(
        net, (torch.rand(2, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )  # fmt: skip
    return path


@pytest.mark.slow
def test_jobs_import_the_package_of_their_own_checkout(
    checkout_with_a_new_format: Path, tmp_path: Path, data_dir: Path
) -> None:
    """A job must run the code of the checkout whose Snakefile runs it, not another copy
    of the package installed in the same environment (this one, `pip install -e`)."""
    done = snakemake(
        tmp_path,
        "--cores",
        "1",
        "data/prepared/mnist.json",
        snakefile=checkout_with_a_new_format / "Snakefile",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "logs/prepare_dataset/mnist.log").read_text()
    assert f"convstudy package: {checkout_with_a_new_format / 'src/convstudy'}" in log
