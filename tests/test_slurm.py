"""The tiny workflow on a real one-node SLURM cluster (scripts/slurm-cluster.sh) through
``workflow/profiles/slurm`` and snakemake-executor-plugin-slurm: every job goes through
SLURM and the tables equal those of the local run. The SLURM run makes Tables I-IV (every
training, conversion, prediction and comparison job: 60 jobs) and leaves out the attacks,
which would double its time without exercising anything new."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, TINY, as_root, job_counts, snakemake

CLUSTER = REPO / "scripts" / "slurm-cluster.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
#: Tables that depend on the models and data only (Table III holds wall-clock times).
DETERMINISTIC_TABLES = ("table1_accuracy", "table2_errors", "table4_size")
#: The local test cluster has no job accounting (sacct): job states come from squeue, which
#: shows a finished job for MinJobAge (300 s) — far longer than these status checks wait.
TEST_CLUSTER_ARGS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
    "--latency-wait", "10",
    "--jobs", "4",
)  # fmt: skip


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A running one-node cluster on localhost; installed by the script where missing."""
    command = as_root(["bash", str(CLUSTER), "start"])
    if command is None:
        pytest.skip("starting the SLURM daemons (and installing slurm-wlm) needs root or sudo")
    started = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if started.returncode != 0:
        if "apt-get" in started.stderr and not shutil.which("slurmctld"):
            pytest.skip(f"slurm-wlm and munge cannot be installed: {started.stderr[-500:]}")
        pytest.fail(f"slurm-cluster.sh start failed:\n{started.stderr[-3000:]}")
    yield
    # the cluster stays up for other runs; its jobs of this session are finished


@pytest.mark.slow
def test_tiny_workflow_through_slurm_equals_local_run(
    slurm_cluster: None, request: pytest.FixtureRequest, tmp_path: Path, data_dir: Path
) -> None:
    workdir = tmp_path.resolve()
    targets = [f"results/report/{table}.csv" for table in DETERMINISTIC_TABLES]
    done = snakemake(
        workdir,
        "--profile", str(PROFILE), *TEST_CLUSTER_ARGS, *targets,
        configfiles=[TINY],
        env={"CONVSTUDY_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    assert "executor: slurm" in log.lower() or "SLURM run ID" in log

    # every job but the local ones went through SLURM, and each left its SLURM log
    planned = job_counts(log)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", log)
    local = {"all"}
    assert len(submitted) == sum(n for rule, n in planned.items() if rule not in local)
    logs = [Path(path.rstrip(").")) for _, path in submitted]
    assert all(path.is_file() for path in logs), [p for p in logs if not p.is_file()]
    by_rule = {path.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0] for path in logs}
    assert by_rule == {f"rule_{rule}" for rule in planned if rule not in local}
    # SLURM itself knows them: the node ran them in this directory
    jobids = {jobid for jobid, _ in submitted}
    seen = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%Z"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    mine = [line.split("|") for line in seen.splitlines() if line.split("|")[0] in jobids]
    assert mine and all(state == "COMPLETED" and Path(wd) == workdir for _, state, wd in mine)

    # the same tables as the local run, asked for only now: under pytest-xdist another
    # worker makes it meanwhile (tests/conftest.py)
    tiny_run: Path = request.getfixturevalue("tiny_run")
    for table in DETERMINISTIC_TABLES:
        relative = f"results/report/{table}.csv"
        assert (workdir / relative).read_bytes() == (tiny_run / relative).read_bytes(), table
