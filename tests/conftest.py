"""Shared fixtures: the repository, the local dataset copy, and one tiny workflow run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from filelock import FileLock

from convstudy.benchmark import SCHEDULER, snakemake_command
from convstudy.envs import CHECK_ENV_VAR

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def local_datasets() -> Path | None:
    """$CONVSTUDY_DATA_DIR, else the shared copy beside the checkout; None if neither exists."""
    env = os.environ.get("CONVSTUDY_DATA_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "datasets"
    return path.resolve() if path.is_dir() else None


#: The xdist group of the tests that read the tiny run: one worker runs them.
TINY_GROUP = "tiny_run"
#: Long tests that read the tiny run only at their end: they go to the other worker at once
#: and wait, if they must, for the run the first worker makes (the ``tiny_run`` fixture).
EARLY_FILES = ("tests/test_slurm.py",)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the tiny end-to-end run are part of the slow tier. For parallel runs
    (``make test``: pytest-xdist, ``--dist loadgroup``) they form one group, which goes first
    as it is the longest, the files of ``EARLY_FILES`` next, and every other test is grouped
    by its file, so that a module's fixtures (trained models) are made on one worker only."""

    def rank(item: pytest.Item) -> int:
        if "tiny_run" in getattr(item, "fixturenames", ()):
            return 0
        return 1 if item.nodeid.split("::", 1)[0] in EARLY_FILES else 2

    for item in items:
        if rank(item) == 0:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(TINY_GROUP))
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    items.sort(key=rank)  # stable: the order within each rank is kept


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = local_datasets()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs the dataset copy at ../shared/datasets or $CONVSTUDY_DATA_DIR")
        pytest.skip("no local dataset copy (set CONVSTUDY_DATA_DIR)")
    return path


def snakemake(
    workdir: Path,
    *args: str,
    configfiles: Sequence[Path] = (),
    env: dict[str, str] | None = None,
    snakefile: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the project's workflow (or that of ``snakefile``) in ``workdir``; return the
    finished process."""
    command = snakemake_command(workdir, configfiles, *SCHEDULER, *args, snakefile=snakefile)
    # Every run of a test sees the same dataset folder unless the test says otherwise, so
    # that dry runs after the tiny run compare like with like.
    local = local_datasets()
    base = {**os.environ, **({"CONVSTUDY_DATA_DIR": str(local)} if local else {})}
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env={**base, **(env or {})}, cwd=REPO
    )


def as_root(command: Sequence[str]) -> list[str] | None:
    """``command`` as root: itself when this is root, through passwordless ``sudo`` (CI
    runners) otherwise; None when neither is possible."""
    if os.geteuid() == 0:
        return list(command)
    sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False)
    return ["sudo", "-n", *command] if sudo.returncode == 0 else None


def run_python(script: str, *args: str) -> list[str]:
    """Run ``script`` in a fresh interpreter of this environment; return its stdout lines."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def job_counts(output: str) -> dict[str, int]:
    """Per-rule job counts from the 'Job stats' table of a (dry) run."""
    stats = output.split("Job stats:", 1)[1]
    return {
        m[1]: int(m[2])
        for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)
        if m[1] != "total"
    }


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The tiny config (LeNet-5 and GRU, both frameworks, one seed) run end to end, each
    job checking its conda env file against what it imported. The pytest-xdist workers of
    one session share it: the first to ask makes it under a file lock, the others wait."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir, finished = shared / "tiny", shared / "tiny.finished"
    with FileLock(shared / "tiny.lock"):
        if not finished.is_file():
            shutil.rmtree(workdir, ignore_errors=True)  # left by a failed attempt
            workdir.mkdir()
            env = {"CONVSTUDY_DATA_DIR": str(data_dir), CHECK_ENV_VAR: "1"}
            done = snakemake(workdir, "--cores", "2", configfiles=[TINY], env=env)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
            finished.touch()
    return workdir
