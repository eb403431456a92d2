"""The per-rule conda environments pin the same versions as the pip environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from convstudy.config import read_pins

ENVS = sorted((REPO / "envs").glob("*.yaml"))
PINS = read_pins(REPO / "envs" / "requirements.txt")


def pip_requirements(env_file: Path) -> list[str]:
    spec = yaml.safe_load(env_file.read_text())
    pip = [dep for dep in spec["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip) == 1, f"{env_file.name}: expected one pip section"
    return pip[0]["pip"]


def test_every_env_is_used_by_a_rule_or_documented() -> None:
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    readme = (REPO / "envs" / "README.md").read_text()
    for env in ENVS:
        assert env.name in rules or env.name in readme, f"{env.name} is neither used nor documented"


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


def test_rule_env_functions_name_existing_files() -> None:
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    named = set(re.findall(r"envs/(\w+)\.yaml", rules))
    named |= {"torch", "keras"}  # chosen per framework wildcard by framework_env()
    for name in named:
        assert (REPO / "envs" / f"{name}.yaml").is_file(), f"envs/{name}.yaml is missing"
