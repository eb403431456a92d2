"""Crash-safe resume: outputs appear only complete; a run killed with ``kill -9`` mid-job
finishes with ``python -m convstudy.resume`` (what ``make study`` runs), which never
unlocks a directory that something still works in."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import REPO, TINY, local_datasets

from convstudy.atomic import atomic_output, temporary_sibling
from convstudy.benchmark import snakemake_command
from convstudy.resume import (
    BUSY_EXIT,
    TMPDIR,
    WorkdirBusy,
    exclusive,
    incomplete_outputs,
    is_workflow_process,
    lock_files,
    processes_in,
)

MINI = REPO / "tests" / "workflows" / "resume" / "Snakefile"
T = TypeVar("T")


# ---- writing under a temporary name


def test_temporary_name_keeps_the_extension(tmp_path: Path) -> None:
    pid = os.getpid()
    assert temporary_sibling(tmp_path / "model.keras").name == f".model.tmp-{pid}.keras"
    assert temporary_sibling(tmp_path / "x.tar.gz").name == f".x.tmp-{pid}.tar.gz"
    assert temporary_sibling(tmp_path / "onnx").name == f".onnx.tmp-{pid}"


def test_file_appears_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "out" / "table.csv"
    with atomic_output(final) as tmp:
        tmp.write_text("a,b\n")
        assert not final.exists()
    assert final.read_text() == "a,b\n"
    assert [p.name for p in final.parent.iterdir()] == ["table.csv"]


def test_folder_output_replaces_an_empty_folder(tmp_path: Path) -> None:
    final = tmp_path / "converted" / "onnx"
    final.mkdir(parents=True)
    with atomic_output(final, directory=True) as tmp:
        (tmp / "model.onnx").write_bytes(b"x")
    assert [p.name for p in final.iterdir()] == ["model.onnx"]


def test_error_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "model.pt") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_kill_mid_write_leaves_no_final_file(tmp_path: Path) -> None:
    final = tmp_path / "model.pt"
    code = (
        "import os, sys\nfrom convstudy.atomic import atomic_output\n"
        f"with atomic_output({str(final)!r}) as tmp:\n"
        "    tmp.write_bytes(b'half')\n    os.kill(os.getpid(), 9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == -9
    assert not final.exists()
    assert [p.name.startswith(".model.tmp-") for p in tmp_path.iterdir()] == [True]


# ---- helpers for real runs


def wait_for(predicate: Callable[[], T], timeout: float, what: str, poll: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"no {what} after {timeout:.0f} s")


def start(
    command: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own (its group id is its pid), as a terminal
    would start ``make study``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO, env=env
        )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """``kill -9`` of the whole process group: Snakemake and every local job."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    def gone() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, 30, "end of the killed process group")


def snapshot(workdir: Path, roots: Sequence[str]) -> dict[str, tuple[int, str]]:
    """relative path -> (mtime in ns, sha256) of every file under ``roots``."""
    files = {}
    for root in roots:
        for path in sorted((workdir / root).rglob("*")):
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                files[str(path.relative_to(workdir))] = (path.stat().st_mtime_ns, digest)
    return files


def job_stats(log: str) -> dict[str, int]:
    """The last 'Job stats' table of a Snakemake log: rule -> jobs."""
    table = log.rsplit("Job stats:", 1)[1]
    return {
        m[1]: int(m[2])
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
        if m[1] != "total"
    }


def resume(
    args: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convstudy.resume", *args],
        capture_output=True, text=True, check=False, cwd=REPO, env=env, timeout=900,
    )  # fmt: skip


# ---- the small workflow: refusals


def mini(workdir: Path, slow_seconds: float) -> list[str]:
    return [
        "--snakefile", str(MINI), "--directory", str(workdir), "--cores", "1",
        "--config", f"slow_seconds={slow_seconds}",
    ]  # fmt: skip


def slow_half_written(workdir: Path) -> bool:
    slow = workdir / "out" / "slow.txt"
    return slow.exists() and slow.read_text() == "begin\n"


@pytest.mark.slow
def test_refuses_while_snakemake_runs(tmp_path: Path) -> None:
    workdir = tmp_path.resolve()
    proc = start([sys.executable, "-m", "snakemake", *mini(workdir, 60)], tmp_path / "run.log")
    try:
        wait_for(lambda: slow_half_written(workdir), 120, "slow job writing")
        done = resume(mini(workdir, 0))
        assert done.returncode == BUSY_EXIT, done.stderr
        assert "is in use, not resuming" in done.stderr and f"pid {proc.pid} " in done.stderr
        assert lock_files(workdir)  # the live run's locks are untouched
        assert slow_half_written(workdir)
    finally:
        kill_group(proc)


@pytest.mark.slow
def test_kill_resume_and_refusal_while_an_orphaned_job_writes(tmp_path: Path) -> None:
    """``kill -9`` of Snakemake alone leaves its job running: no resume until it ends."""
    workdir = tmp_path.resolve()
    proc = start([sys.executable, "-m", "snakemake", *mini(workdir, 60)], tmp_path / "run.log")
    wait_for(lambda: slow_half_written(workdir), 120, "slow job writing")
    finished = snapshot(workdir, ["out"])
    del finished["out/slow.txt"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    orphans = processes_in(workdir)
    assert orphans and all(".snakemake/scripts/" in line for line in orphans), orphans

    # what a user meets without the wrapper: the incomplete output, then the stale lock
    plain = subprocess.run(
        [sys.executable, "-m", "snakemake", *mini(workdir, 0)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert plain.returncode != 0 and "IncompleteFilesException" in plain.stdout + plain.stderr

    busy = resume(mini(workdir, 0))
    assert busy.returncode == BUSY_EXIT and ".snakemake/scripts/" in busy.stderr
    assert lock_files(workdir) and slow_half_written(workdir)  # nothing touched
    for line in orphans:
        os.kill(int(line.split()[1]), signal.SIGKILL)
    wait_for(lambda: not processes_in(workdir), 30, "end of the orphaned job")

    done = resume(mini(workdir, 0))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "stale Snakemake lock" in done.stderr and "out/slow.txt" in done.stderr
    assert (workdir / "out" / "summary.txt").read_text() == "begin\nend\n"
    assert job_stats(done.stdout + done.stderr) == {"slow": 1, "summary": 1, "all": 1}
    after = snapshot(workdir, ["out"])
    assert {p: after[p] for p in finished} == finished  # finished jobs not redone
    assert not lock_files(workdir) and not incomplete_outputs(workdir)


def test_what_counts_as_a_workflow_process() -> None:
    assert is_workflow_process(["/x/.venv/bin/python", "-m", "snakemake", "--cores", "2"])
    assert is_workflow_process(["/x/.venv/bin/snakemake", "--cores", "2"])
    assert is_workflow_process(["python", "/w/.snakemake/scripts/tmpab12.convert.py"])
    assert not is_workflow_process(["tail", "-f", ".snakemake/log/2026.snakemake.log"])
    assert not is_workflow_process(["vim", "Snakefile"])


def test_two_wrappers_exclude_each_other(tmp_path: Path) -> None:
    with exclusive(tmp_path), pytest.raises(WorkdirBusy, match="holds"), exclusive(tmp_path):
        pass


# ---- the study's tiny workflow, killed mid-conversion


@pytest.mark.slow
def test_kill_9_of_the_tiny_study_mid_job_then_resume(tmp_path: Path) -> None:
    """prepare -> train -> convert (LeNet-5, PyTorch -> ONNX), killed with ``kill -9`` of
    the whole process group while the conversion writes; then the command ``make study``
    runs finishes it: stale lock handled, the interrupted output rebuilt, finished jobs
    not redone, no partial file under a final name."""
    data = local_datasets()
    if data is None:
        pytest.skip("no local dataset copy (set CONVSTUDY_DATA_DIR)")
    workdir = tmp_path.resolve()
    target = "results/converted/lenet5/torch/seed0/onnx"
    command = snakemake_command(workdir, [TINY], "--cores", "1", target)
    env = {**os.environ, "CONVSTUDY_DATA_DIR": str(data)}
    proc = start(command, tmp_path / "run.log", env=env)
    temporary = temporary_sibling(workdir / target).name.split(".tmp-")[0] + ".tmp-*"
    try:
        writing = wait_for(
            lambda: sorted((workdir / target).parent.glob(temporary)), 600, "conversion writing"
        )
    except TimeoutError:
        kill_group(proc)
        raise AssertionError((tmp_path / "run.log").read_text()[-3000:]) from None
    finished = snapshot(workdir, ["data/prepared", "results/models"])
    kill_group(proc)
    assert target in incomplete_outputs(workdir) and lock_files(workdir)
    assert not (workdir / target).exists()  # the partial conversion has a temporary name only
    assert any(p.exists() for p in writing)

    done = resume(command[3:], env=env)  # the arguments after "python -m snakemake"
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "stale Snakemake lock" in done.stderr
    assert job_stats(log) == {"convert": 1}  # only the interrupted job ran again
    assert snapshot(workdir, ["data/prepared", "results/models"]) == finished
    assert sorted(p.name for p in (workdir / target).glob("[!.]*")) == [
        "conversion.json",
        "model.onnx",
        "spec.json",
    ]
    assert not list((workdir / target).parent.glob(temporary))
    assert not lock_files(workdir) and not incomplete_outputs(workdir)
    # the run's temporary files live in its own folder, which the next run empties first
    run_tmp = workdir / TMPDIR
    assert run_tmp.is_dir()
    (run_tmp / "convstudy-textattack-left").mkdir()
    assert resume(command[3:], env=env).returncode == 0
    assert not (run_tmp / "convstudy-textattack-left").exists()
