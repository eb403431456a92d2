"""The per-rule conda environments: pinned like the pip environment, and complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_python

from convstudy import envs
from convstudy.config import read_pins
from convstudy.envs import pip_requirements

ENVS = sorted((REPO / "envs").glob("*.yaml"))
PINS = read_pins(REPO / "envs" / "requirements.txt")
RULE_FILES = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
RULES = re.findall(r"^rule (\w+):", RULE_FILES, re.MULTILINE)


def test_every_env_is_used_by_a_rule_or_documented() -> None:
    used = {f"{name}.yaml" for name in job_envs()}
    readme = (REPO / "envs" / "README.md").read_text()
    for env in ENVS:
        assert env.name in used or env.name in readme, f"{env.name} is neither used nor documented"


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_pins_match_requirements(env_file: Path) -> None:
    spec = yaml.safe_load(env_file.read_text())
    assert "python=3.11" in spec["dependencies"]
    for requirement in pip_requirements(env_file):
        name, _, version = re.match(r"([A-Za-z0-9_.\-]+)(==)?(.*)", requirement).groups()
        assert version, f"{env_file.name}: {requirement} is not pinned exactly"
        assert PINS.get(name.lower()) == version, (
            f"{env_file.name}: {requirement} drifted from envs/requirements.txt ({PINS.get(name.lower())})"
        )


def test_requirements_pin_every_framework_exactly() -> None:
    for name in ("torch", "tensorflow-cpu", "tf2onnx", "onnxruntime", "coremltools", "foolbox", "textattack",
                 "snakemake", "pandas", "matplotlib"):  # fmt: skip
        assert name in PINS, f"{name} is not pinned in envs/requirements.txt"
    assert PINS["torch"] == "2.13.0"  # the local CPU wheel; unpinned torch pulls CUDA builds


def job_envs() -> dict[str, set[str]]:
    """The rules that run in each env, over every framework and format of the grid."""
    formats = {
        "convert": ("format", ["onnx", "coreml-fp32", "coreml-fp16"]),
        "predict": ("target", ["original", "onnx", "coreml-fp32", "coreml-fp16"]),
    }
    used: dict[str, set[str]] = {}
    for rule in RULES:
        key, values = formats.get(rule, ("format", [None]))
        for framework in ("torch", "keras"):
            for fmt in values:
                wildcards = {"framework": framework, **({key: fmt} if fmt else {})}
                used.setdefault(envs.rule_env(rule, wildcards), set()).add(rule)
    return used


def test_every_rule_runs_in_an_existing_env() -> None:
    assert {"prepare_dataset", "train", "convert", "predict", "report"} <= set(RULES)
    used = job_envs()
    for name in used:
        assert envs.env_file(name).is_file(), f"envs/{name}.yaml is missing"
    assert used["onnxruntime"] == {"predict"}
    assert used["coreml"] == {"convert", "predict"}
    assert used["torch"] == used["keras"] == {"train", "convert", "predict"}
    assert used["report"] == {"compare", "gather", "report"}


def test_a_rule_without_an_env_is_an_error() -> None:
    with pytest.raises(ValueError, match="no conda environment"):
        envs.rule_env("attack", {})


def test_every_job_runs_with_only_its_env_importable(tiny_run: Path) -> None:
    """Under --sdm conda a distribution missing from an env file would silently come from
    the host; the tiny run ran every job with only its env's distributions importable."""
    verdicts = {}
    for log in sorted((tiny_run / "logs").rglob("*.log")):
        lines = [line for line in log.read_text().splitlines() if "conda env check:" in line]
        assert len(lines) == 1, f"{log}: {len(lines)} env check lines"
        verdicts[log.relative_to(tiny_run / "logs")] = lines[0]
    rules = {path.parts[0] if len(path.parts) > 1 else path.stem for path in verdicts}
    assert rules == {
        "prepare_dataset",
        "train",
        "convert",
        "predict",
        "compare",
        "gather",
        "report",
    }
    lacking = {str(path): line for path, line in verdicts.items() if " provides " not in line}
    assert not lacking, lacking
    onnx = verdicts[Path("predict/lenet5/torch/seed0/onnx.log")]
    assert "envs/onnxruntime.yaml provides everything" in onnx


GUARDED = """
import importlib.metadata, importlib.util, sys
from convstudy.envs import EnvImportGuard
guard = EnvImportGuard(sys.argv[1])
guard.install()
for module in sys.argv[2:]:
    try:
        __import__(module)
        print(module, "ok")
    except ModuleNotFoundError as error:
        print(module, "refused:", error, "| find_spec:", importlib.util.find_spec(module))
        try:
            importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            print(module, "has no metadata")
guard.uninstall()
__import__(sys.argv[-1])
print("refused", sorted(guard.refused), "| after uninstall:", sys.argv[-1] in sys.modules)
"""


def test_guard_refuses_what_the_env_lacks() -> None:
    lines = run_python(
        GUARDED, "onnxruntime", "json", "numpy", "onnxruntime", "convstudy", "pandas"
    )
    assert lines == [
        "json ok",
        "numpy ok",
        "onnxruntime ok",
        "convstudy ok",
        "pandas refused: No module named 'pandas' | find_spec: None",  # as if not installed
        "pandas has no metadata",
        "refused ['pandas'] | after uninstall: True",
    ]


def test_guard_lets_an_env_import_its_dependencies() -> None:
    # pandas is in report.yaml, python-dateutil only as its dependency; pandas tries
    # pyarrow (not in the env) as an optional import and goes on without it.
    assert run_python(GUARDED, "report", "pandas", "dateutil") == [
        "pandas ok", "dateutil ok", "refused ['pyarrow'] | after uninstall: True",
    ]  # fmt: skip


def test_provided_distributions_follow_declared_dependencies() -> None:
    provided = envs.provided_distributions(["keras==3.15.1"])
    assert {"keras", "numpy", "h5py", "ml-dtypes"} <= provided
    assert "torch" not in provided


MISSING = """
import os, sys, types
os.environ["CONVSTUDY_CHECK_ENVS"] = "1"
from convstudy.scripting import job_log
with job_log(types.SimpleNamespace(log=[sys.argv[1]], rule="gather", wildcards={})):
    import torch  # not in envs/report.yaml
"""


def test_a_job_needing_what_its_env_lacks_fails_and_says_so(tmp_path: Path) -> None:
    log = tmp_path / "gather.log"
    done = subprocess.run(
        [sys.executable, "-c", MISSING, str(log)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[0] == f"convstudy: job failed, see {log}"
    text = log.read_text()
    assert (
        "conda env check: the job failed with only envs/report.yaml importable; "
        "hidden from it: torch"
    ) in text
    assert "ModuleNotFoundError: No module named 'torch'" in text
