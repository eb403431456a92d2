"""The benchmark's reading of a finished run: per-rule tables and two runs side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from convstudy import benchmark

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _run(workdir: Path, jobs: dict[str, list[float]], wall: float, legacy: bool = False) -> Path:
    """A finished run's files: one job log per job, whose last line says what the job cost;
    ``legacy``: a run made before the logs said their wall time, with one Snakemake
    benchmark file per job instead."""
    for rule, seconds in jobs.items():
        for i, s in enumerate(seconds):
            log = workdir / "logs" / rule / f"job{i}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            costs = "job costs: startup 0.25 s; imported -"
            if legacy:
                tsv = workdir / "benchmarks" / rule / f"job{i}.tsv"
                tsv.parent.mkdir(parents=True, exist_ok=True)
                tsv.write_text(HEADER + f"{s}\t0:00:01\t100.0\t0\t0\t0\t0\t0\t0\t{s / 2}\n")
            else:
                costs += f"; wall {s:.2f} s; cpu {s / 2:.2f} s; max_rss 100.0 MB"
            log.write_text(f"work\n... INFO convstudy.job: {costs}\n")
    run = {"status": 0.0, "wall_s": wall, "snakemake_cpu_s": 10.0, "peak_rss_mb": 2048.0}
    (workdir / "benchmark.json").write_text(json.dumps({"run": run, "rules": []}))
    return workdir


def test_two_runs_side_by_side(tmp_path: Path) -> None:
    # the run before: made before the logs said their wall time (Snakemake's files)
    before = _run(tmp_path / "a", {"convert": [4.0, 6.0], "attack": [20.0]}, 30.0, legacy=True)
    after = _run(tmp_path / "b", {"convert": [3.0, 3.0], "compare": [0.5]}, wall=12.0)
    text = benchmark.compare(before, after)
    rows = {
        cells[0]: [float(c) for c in cells[1:]]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| rule")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
        if cells[0] and cells[0][0] != ":"
    }
    # totals: before and after; the fixed cost is each job's start-up (it imported nothing)
    assert rows["wall time (s)"] == [30, 12]
    assert rows["job time (s)"] == [30, 6.5]
    assert rows["of it fixed cost (s)"] == [0.75, 0.75]
    assert rows["jobs"] == [3, 3]
    # per rule (jobs, job time, fixed cost) before and after, and the change; a rule of one
    # run only has zeros in the other
    assert rows["convert"] == [2, 10, 0.5, 2, 6, 0.5, -4]
    assert rows["attack"] == [1, 20, 0.25, 0, 0, 0, -20]
    assert rows["compare"] == [0, 0, 0, 1, 0.5, 0.25, 0.5]
    # the command prints the same table
    done = subprocess.run(
        [sys.executable, "-m", "convstudy.benchmark", "--compare", str(before), str(after)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == text.strip()


def test_per_rule_reads_what_each_jobs_log_says(tmp_path: Path) -> None:
    run = _run(tmp_path, {"convert": [4.0, 6.0], "attack": [20.0]}, wall=30.0)
    table = benchmark.per_rule(run, overhead=False).set_index("rule")
    assert table.loc["convert", ["jobs", "total_s", "cpu_s", "median_s", "max_s"]].tolist() == [
        2,
        10.0,
        5.0,
        5.0,
        6.0,
    ]
    assert table.loc["attack", "max_rss_mb"] == 100.0


def test_a_job_logs_its_own_costs(tmp_path: Path) -> None:
    """The last line of a job's log: start-up, imports, and wall, CPU and memory measured by
    the job's own process (a child's CPU included), as the benchmark reads it; started, as
    Snakemake starts a job, by a larger process (its peak is not the job's)."""
    job = (
        "import subprocess, sys\n"
        "from convstudy.scripting import job_costs\n"
        "subprocess.run([sys.executable, '-c', 'sum(range(30_000_000))'], check=True)\n"
        "data = bytearray(300 * 2**20)\n"
        "print(job_costs(0.1))\n"
    )
    starter = (
        "import subprocess, sys\n"
        "held = bytearray(700 * 2**20)\n"
        f"subprocess.run([sys.executable, '-c', {job!r}], check=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, check=True
    )
    log = tmp_path / "logs" / "convert" / "job.log"
    log.parent.mkdir(parents=True)
    log.write_text("... INFO convstudy.job: " + done.stdout)
    costs = benchmark.job_costs(tmp_path / "logs").iloc[0]
    assert costs["rule"] == "convert" and costs["startup_s"] == 0.1
    assert costs["cpu_s"] > 0.2  # the child's loop: about half a second
    assert costs["seconds"] >= costs["cpu_s"] * 0.5 and costs["seconds"] < 60
    assert 300 < costs["max_rss_mb"] < 600  # the job's 300 MB, not its starter's 700


def test_imports_are_timed_as_a_job_imports_them() -> None:
    probe = benchmark.import_probe(("coremltools", "tensorflow"))
    assert probe.index("lean_imports.install()") < probe.index("import tensorflow")
    assert probe.index("import tensorflow") < probe.index("import_coremltools()")
    assert "coremltools" not in benchmark.import_probe(("torch",))
    assert benchmark.import_seconds(()) == 0.0
