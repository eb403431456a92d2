"""The per-rule conda environments: pinned like the pip environment, and complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_python

from convstudy import envs, grid, registry
from convstudy.config import read_pins
from convstudy.envs import pip_requirements

ENVS = sorted((REPO / "envs").glob("*.yaml"))
FORMATS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["formats"]
PINS = read_pins(REPO / "envs" / "requirements.txt")
RULE_FILES = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
#: Every rule that runs a job (the named targets of targets.smk only gather files).
RULES = [
    rule
    for rule in re.findall(r"^(?:rule|checkpoint) (\w+):", RULE_FILES, re.MULTILINE)
    if rule not in {"report", *grid.STAGES}
]
#: Rules the tiny run does not use (config `versions` and `matrix.sources` are empty there):
#: tests/test_versions.py and tests/test_sources.py run them with the same env check.
NOT_IN_TINY_RUN = {
    "fetch_dataset", "converter_env", "convert_version", "predict_version", "compare_version",
    "versions_report", "import_source", "convert_source", "predict_source", "compare_source",
    "source_path", "sources_report",
    # Louloudakis et al.'s grid runs in tests/test_louloudakis.py, with the same env check
    "louloudakis_pair", "louloudakis_faulty", "localize_pair", "louloudakis_report",
    "adopt_keras_weights",
    # the published weights need the network; tests/test_published.py runs the job's code
    "adopt_published_weights",
}  # fmt: skip


def test_every_env_is_used_by_a_rule_or_documented() -> None:
    used = {f"{name}.yaml" for name in job_envs()}
    readme = (REPO / "envs" / "README.md").read_text()
    for env in ENVS:
        assert env.name in used or env.name in readme, f"{env.name} is neither used nor documented"


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_pins_match_requirements(env_file: Path) -> None:
    spec = yaml.safe_load(env_file.read_text())
    assert "python=3.11" in spec["dependencies"]
    # an environment of its own (it cannot live beside the main stack) has its own pins file
    own = env_file.with_suffix(".txt")
    pins_file = own if own.is_file() else REPO / "envs" / "requirements.txt"
    pins = read_pins(pins_file)
    for requirement in pip_requirements(env_file):
        name, _, version = re.match(r"([A-Za-z0-9_.\-]+)(==)?(.*)", requirement).groups()
        assert version, f"{env_file.name}: {requirement} is not pinned exactly"
        assert pins.get(name.lower()) == version, (
            f"{env_file.name}: {requirement} drifted from {pins_file.name} ({pins.get(name.lower())})"
        )


def test_requirements_pin_every_framework_exactly() -> None:
    for name in ("torch", "tensorflow-cpu", "tf2onnx", "onnxruntime", "coremltools", "foolbox", "textattack",
                 "snakemake", "pandas", "matplotlib"):  # fmt: skip
        assert name in PINS, f"{name} is not pinned in envs/requirements.txt"
    assert PINS["torch"] == "2.13.0"  # the local CPU wheel; unpinned torch pulls CUDA builds


def conda_directives() -> dict[str, str]:
    """{rule: its conda directive as convstudy.envs.conda_directive gives it}, read from the
    rule files: an env file's name, or ``module:function`` of a workflow function."""
    directives = {}
    for chunk in re.split(r"^(?=rule |checkpoint )", RULE_FILES, flags=re.MULTILINE)[1:]:
        rule = re.match(r"(?:rule|checkpoint) (\w+):", chunk)[1]
        if rule not in RULES:
            continue
        value = re.search(r"^    conda:\n\s+(\S+)", chunk, re.MULTILINE)[1]
        if value.startswith("grid."):
            directives[rule] = f"convstudy.grid:{value.removeprefix('grid.')}"
        else:
            directives[rule] = Path(value.strip('"')).name.removesuffix(".yaml")
    return directives


def job_envs() -> dict[str, set[str]]:
    """The rules that run in each env, over every framework and format of the registry."""
    used: dict[str, set[str]] = {}
    for rule, directive in conda_directives().items():
        for framework in registry.FRAMEWORKS:
            routes = [registry.route_name(registry.route(framework, f)) for f in FORMATS]
            for route in routes:
                for target in (registry.ORIGINAL, route):
                    wildcards = {"framework": framework, "route": route, "target": target}
                    used.setdefault(envs.job_env(directive, wildcards), set()).add(rule)
    return used


def test_every_rule_names_its_env() -> None:
    assert set(conda_directives()) == set(RULES)
    # A rule whose env does not depend on wildcards names its env file directly.
    assert conda_directives()["report_fidelity"] == "report"
    assert conda_directives()["train"] == "{framework}"


def test_every_rule_runs_in_an_existing_env() -> None:
    assert {"prepare_dataset", "train", "convert", "predict", "report_fidelity"} <= set(RULES)
    used = job_envs()
    for name in used:
        assert envs.env_file(name).is_file(), f"envs/{name}.yaml is missing"
    # a converter release (`versions`) runs in its converter's env, its model in its runtime's
    hops = {"convert", "convert_version", "predict", "predict_version", "replay"}
    assert used["onnxruntime"] == hops
    assert used["coreml"] == hops | {"read_weights"}
    assert used["torch"] == used["keras"] == hops | {"train"}
    assert used["attacks"] == {"embedding", "attack", "attack_direct"}
    assert used["report"] == {
        "compare", "gather", "report_fidelity", "ablation_init", "select", "robustness",
        "report_robustness", "matrix_path", "matrix_report", "localization_pairs",
        "localization_report", "converter_env", "compare_version", "versions_report",
        "compare_source", "source_path", "sources_report", "louloudakis_pair",
        "louloudakis_faulty", "louloudakis_report",
    }  # fmt: skip
    assert used["transfer"] == {"train_ablation", "adopt_keras_weights", "adopt_published_weights"}
    # localization and brought models see every format through torch, TF and onnx
    assert used["localize"] == {
        "localize", "localize_pair", "import_source", "convert_source", "predict_source",
    }  # fmt: skip


def test_the_env_check_reads_the_rules_directives() -> None:

    class Rule:
        def __init__(self, name: str, conda_env: object) -> None:
            self.name, self.conda_env = name, conda_env

    table = envs.rule_envs([Rule("a", "../../envs/report.yaml"), Rule("b", grid.predict_env)])
    assert table == {"a": "report", "b": "convstudy.grid:predict_env"}
    assert envs.job_env(table["b"], {"framework": "keras", "target": "onnx"}) == "onnxruntime"
    assert envs.job_env(table["b"], {"framework": "keras", "target": "original"}) == "keras"


def test_every_job_runs_with_only_its_env_importable(tiny_run: Path) -> None:
    """Under --sdm conda a distribution missing from an env file would silently come from
    the host; the tiny run ran every job with only its env's distributions importable."""
    verdicts = {}
    for log in sorted((tiny_run / "logs").rglob("*.log")):
        lines = [line for line in log.read_text().splitlines() if "conda env check:" in line]
        assert len(lines) == 1, f"{log}: {len(lines)} env check lines"
        verdicts[log.relative_to(tiny_run / "logs")] = lines[0]
    rules = {path.parts[0] if len(path.parts) > 1 else path.stem for path in verdicts}
    assert rules == set(RULES) - NOT_IN_TINY_RUN  # fetch_dataset: a local dataset folder
    lacking = {str(path): line for path, line in verdicts.items() if " provides " not in line}
    assert not lacking, lacking
    onnx = verdicts[Path("predict/lenet5/torch/seed0/onnx.log")]
    assert "envs/onnxruntime.yaml provides everything" in onnx
    # a package an env hid would turn a conversion into a ModuleNotFoundError finding
    # (onnx2tf in tflite.yaml, installed there with --no-deps, once did)
    hidden = [
        str(path) for path in (tiny_run / "results").rglob("conversion.json")
        if "ModuleNotFoundError" in path.read_text()
    ]  # fmt: skip
    assert not hidden, hidden


def test_no_deps_packages_of_env_files_are_pinned() -> None:
    nodeps = read_pins(REPO / "envs" / "requirements-nodeps.txt")
    for env in sorted((REPO / "envs").glob("*.yaml")):
        for name in envs.no_deps_requirements(env):
            assert name in nodeps, f"{env.name}: {name} is not in requirements-nodeps.txt"
    assert {"onnx2tf", "onnx-graphsurgeon"} <= envs.env_distributions("tflite")
    assert "onnx2torch" in envs.env_distributions("onnx2torch")
    assert "onnx2tf" not in envs.env_distributions("onnxruntime")


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
    provided = envs.provided_distributions([f"keras=={PINS['keras']}"])
    assert {"keras", "numpy", "h5py", "ml-dtypes"} <= provided
    assert "torch" not in provided


MISSING = """
import os, sys, types
os.environ["CONVSTUDY_CHECK_ENVS"] = "1"
from convstudy.scripting import job_log
job = types.SimpleNamespace(
    log=[sys.argv[1]], rule="gather", wildcards={}, config={"_convstudy_rule_envs": {"gather": "report"}}
)
with job_log(job):
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


HIDDEN = """
import sys
from convstudy import envs
if sys.argv[1] == "imported":
    import onnx
with envs.without({"onnx"}):
    try:
        import onnx.numpy_helper  # a submodule not imported yet
        print("onnx.numpy_helper ok")
    except ImportError as error:
        print(f"refused: {error}")
"""


def test_hiding_spares_distributions_already_imported() -> None:
    # coremltools finds torch in sys.modules and imports torch.distributed.fsdp: hiding
    # torch then must not break that submodule import (it did, in read_weights).
    assert run_python(HIDDEN, "imported") == ["onnx.numpy_helper ok"]
    assert run_python(HIDDEN, "fresh") == ["refused: No module named 'onnx'"]


SAME_HIDING = """
import sys
from convstudy import envs, lean_imports
from convstudy.formats import coreml
from convstudy.registry import FRAMEWORKS
sets = [*lean_imports.OPTIONAL.values(),
        {p for e in FRAMEWORKS.values() for p in e.packages} | coreml.UNUSED_BY_CONVERSION]
owners = envs.all_owners()
for hidden in sets:
    guard = envs.HiddenDistributions(hidden)
    # what the map of every distribution hides: a module all of whose owners are hidden
    expected = {top for top, dists in owners.items() if dists <= guard.denied}
    got = {top for top in owners if guard.hides(top)}
    assert got == expected, (sorted(hidden), got ^ expected)
    assert expected, hidden
print("same")
"""


def test_hiding_looks_up_only_the_hidden_distributions_and_hides_the_same() -> None:
    # HiddenDistributions reads only the hidden distributions' files (the map of every
    # installed distribution costs 0.2-0.5 s per job); for every set the project hides, it
    # must hide exactly the modules that map says those distributions own
    assert run_python(SAME_HIDING) == ["same"]
