"""The registry: routes, look-ups, every entry's module, and adding a format to it."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
from conftest import REPO, job_counts, snakemake

from convstudy import registry

# What a new format needs: one converter module and one registry entry (README, "Adding a
# format"). The test below does exactly that in a copy of the checkout.
DUMMY_CONVERTER = '''
"""ONNX to ONNX with every weight rounded to bfloat16 precision (an example format)."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.converters import Converted
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    raise NotImplementedError("a dry run does not convert")
'''
DUMMY_ENTRIES = {
    '        Format("onnx", "model.onnx", "onnxruntime", "ONNX"),\n': (
        '        Format("onnx-bf16", "model.onnx", "onnxruntime", "ONNX, bf16 weights", via="onnx"),\n'
    ),
    "CONVERTERS: dict[str, Converter] = {\n    c.name: c\n    for c in (\n": (
        '        Converter("bf16", "convstudy.converters.bf16", "onnxruntime", ("onnx",), "bf16",'
        ' (("onnx", "onnx-bf16"),)),\n'
    ),
}


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
    for runtime in registry.RUNTIMES.values():
        assert "threads" in inspect.signature(registry.module(runtime.module).load).parameters
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
    """A copy of this checkout with one more format: one module, one registry entry."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in ("Snakefile", "src", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    (copy / "src/convstudy/converters/bf16.py").write_text(DUMMY_CONVERTER)
    registry_file = copy / "src/convstudy/registry.py"
    text = registry_file.read_text()
    for anchor, entry in DUMMY_ENTRIES.items():
        assert anchor in text, anchor
        text = text.replace(anchor, anchor + entry)
    registry_file.write_text(text)
    return copy


def test_a_new_format_is_one_module_and_one_registry_entry(
    checkout_with_a_new_format: Path, tmp_path: Path
) -> None:
    config = tmp_path / "formats.yaml"
    config.write_text("formats: [onnx, onnx-bf16]\nseeds: [0]\nmatrix: {seeds: []}\n")
    done = snakemake(
        tmp_path,
        "-n",
        "--cores",
        "2",
        configfiles=[config],
        snakefile=checkout_with_a_new_format / "Snakefile",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout)
    # 5 models x 2 frameworks x 1 seed: the ONNX hop, then the bf16 hop from it; both
    # formats predicted beside the original and compared.
    assert counts["convert"] == 10 * 2 and counts["predict"] == 10 * 3
    assert counts["compare"] == 10 * 2
    assert "results/converted/lenet5/torch/seed0/onnx+onnx-bf16" in done.stdout


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
