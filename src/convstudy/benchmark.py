"""Run the default study from scratch and report where its time and memory go.

Usage: ``python -m convstudy.benchmark [--cores 2] [--workdir .benchmark] [--configfile X.yaml]
[-- snakemake args]``; ``python -m convstudy.benchmark --compare BEFORE AFTER`` prints two
finished runs (their work directories) side by side.

Reported (``<workdir>/benchmark.md`` and ``benchmark.json``):

* the wall time, the Snakemake process's own CPU time (scheduling and bookkeeping, its jobs
  excluded) and the peak resident memory of the whole run (Snakemake and every job running
  at once), sampled every second;
* per rule, from the last line of every job's log (:func:`convstudy.scripting.job_costs`):
  the job count, wall and CPU time, median and longest job, the largest peak resident
  memory of one job; and an estimate of the fixed cost in it: each job's start-up
  (interpreter, Snakemake's script preamble, this package) plus the time a fresh
  interpreter takes to import the heavy packages the job imported (measured here once per
  set of packages, imported as a job imports them). Runs made before the logs said their
  wall time are read from Snakemake's ``benchmarks/`` files instead.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from convstudy.data.sources import LOCAL_DIR_ENV
from convstudy.resume import fresh_tmpdir
from convstudy.scripting import COSTS_PREFIX

REPO = Path(__file__).resolve().parents[2]
#: The scheduler `make study` uses: Snakemake's ILP scheduler spends minutes of CPU on a
#: DAG of this size and gains nothing for jobs of one or two threads (docs/execution.md).
SCHEDULER = ("--scheduler", "greedy")
_COSTS = re.compile(
    rf"{COSTS_PREFIX} startup ([\d.]+|nan) s; imported (.*?)"
    r"(?:; wall ([\d.]+|nan) s; cpu ([\d.]+|nan) s; max_rss ([\d.]+|nan) MB)?$"
)


def snakemake_command(
    workdir: Path, configfiles: Sequence[Path], *args: str, snakefile: Path | None = None
) -> list[str]:
    """The command that runs this checkout's workflow (or ``snakefile``'s) in ``workdir``.

    The workflow's ``config/config.yaml`` comes first, then ``configfiles`` merged over it
    (with any ``--configfile``, Snakemake no longer reads the Snakefile's ``configfile:``).
    Targets go in ``args``: they must come before ``--configfile``, which takes every
    value after it as a config file.
    """
    snakefile = snakefile or REPO / "Snakefile"
    configs = [snakefile.parent / "config" / "config.yaml", *configfiles]
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        *args, "--configfile", *map(str, configs),
    ]  # fmt: skip


def sampled_run(
    command: Sequence[str], env: dict[str, str], every: float = 1.0
) -> dict[str, float]:
    """Run ``command``; sample its process tree every ``every`` seconds. Returns the exit
    status, the wall time, the top process's own CPU seconds and the tree's peak RSS (MB)."""
    import psutil

    tic = time.perf_counter()
    proc = subprocess.Popen(command, env=env)
    top = psutil.Process(proc.pid)
    own_cpu, peak = 0.0, 0.0
    while proc.poll() is None:
        try:
            times = top.cpu_times()
            own_cpu = times.user + times.system
            tree = [top, *top.children(recursive=True)]
            rss = 0
            for member in tree:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss += member.memory_info().rss
            peak = max(peak, rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(every)
    return {
        "status": float(proc.returncode),
        "wall_s": time.perf_counter() - tic,
        "snakemake_cpu_s": own_cpu,
        "peak_rss_mb": peak,
    }


def rule_of(path: Path, root: Path) -> str:
    """The rule of a job's benchmark or log file (``<root>/<rule>/...`` or ``<root>/<rule>.x``)."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else path.stem


def job_costs(logs: Path) -> pd.DataFrame:
    """Per job log: its rule, start-up seconds, the heavy packages it imported, and its
    wall and CPU seconds and peak memory (MB; NaN in logs of runs made before the logs said
    them)."""
    rows = []
    for log in sorted(logs.rglob("*.log")):
        lines = [
            line for line in log.read_text(errors="replace").splitlines() if COSTS_PREFIX in line
        ]
        found = _COSTS.search(lines[-1]) if lines else None
        if found:
            imported = tuple(sorted(set(found[2].split()) - {"-"}))
            measured = [float(value) if value else float("nan") for value in found.group(3, 4, 5)]
            rows.append(
                {"rule": rule_of(log, logs), "startup_s": float(found[1]), "imported": imported}
                | dict(zip(("seconds", "cpu_s", "max_rss_mb"), measured))
            )
    columns = ["rule", "startup_s", "imported", "seconds", "cpu_s", "max_rss_mb"]
    return pd.DataFrame(rows, columns=columns)


def import_probe(packages: Sequence[str]) -> str:
    """Code that imports ``packages`` as a job does: with :mod:`convstudy.lean_imports`
    installed (as :func:`convstudy.scripting.job_log` installs it), and coremltools through
    :func:`convstudy.formats.coreml.import_coremltools`, after the job's other packages."""
    code = "from convstudy import lean_imports\nlean_imports.install()\n"
    others = [name for name in packages if name != "coremltools"]
    if others:
        code += f"import {', '.join(others)}\n"
    if "coremltools" in packages:
        code += "from convstudy.formats.coreml import import_coremltools\nimport_coremltools()\n"
    return code


def import_seconds(packages: Sequence[str]) -> float:
    """Seconds a fresh interpreter takes to import ``packages`` as a job does, beyond
    starting."""
    if not packages:
        return 0.0
    return max(_timed(import_probe(packages)) - _timed(import_probe(())), 0.0)


@functools.cache
def _timed(code: str) -> float:
    """Wall seconds of a fresh interpreter running ``code`` with this checkout's package."""
    tic = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    return time.perf_counter() - tic


def per_rule(workdir: Path, *, overhead: bool = True) -> pd.DataFrame:
    """Per rule of the run in ``workdir``, from its job logs (:func:`job_costs`): jobs, wall
    and CPU seconds (total), median and longest job, the largest peak resident memory of one
    job (MB); with ``overhead``, the estimated fixed cost (start-up and imports) and its
    share of the wall time. A run whose logs do not say their wall time (made before they
    did) is read from Snakemake's ``benchmarks/<rule>/**/*.tsv`` files."""
    costs = job_costs(workdir / "logs")
    frame = costs.dropna(subset=["seconds"])
    if frame.empty:
        frame = _benchmark_files(workdir / "benchmarks")
    if frame.empty:
        return frame
    table = (
        frame.groupby("rule")
        .agg(
            jobs=("seconds", "count"),
            total_s=("seconds", "sum"),
            cpu_s=("cpu_s", "sum"),
            median_s=("seconds", "median"),
            max_s=("seconds", "max"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .reset_index()
    )
    if overhead and not costs.empty:
        seconds = {sets: import_seconds(sets) for sets in costs["imported"].unique()}
        costs["overhead_s"] = costs["startup_s"].fillna(0.0) + costs["imported"].map(seconds)
        fixed = costs.groupby("rule")["overhead_s"].sum()
        table["overhead_s"] = table["rule"].map(fixed).fillna(0.0)
        table["overhead_share"] = (table["overhead_s"] / table["total_s"]).clip(upper=1.0)
    return table.round(2).sort_values("total_s", ascending=False).reset_index(drop=True)


def _benchmark_files(benchmarks: Path) -> pd.DataFrame:
    """Per job, from Snakemake's ``benchmark:`` files: rule, seconds, CPU seconds, peak MB."""
    rows = []
    for tsv in sorted(benchmarks.rglob("*.tsv")) if benchmarks.is_dir() else []:
        last = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append(
            {
                "rule": rule_of(tsv, benchmarks),
                "seconds": float(last["s"]),
                "cpu_s": pd.to_numeric(last.get("cpu_time"), errors="coerce"),
                "max_rss_mb": pd.to_numeric(last["max_rss"], errors="coerce"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "seconds", "cpu_s", "max_rss_mb"])


def report(run: dict[str, float], table: pd.DataFrame, cores: int, what: str = "") -> str:
    """The benchmark as Markdown; ``what`` names the run (default: the default study)."""
    head = (
        f"{what or 'Default study'} from scratch, --cores {cores}: wall time {run['wall_s'] / 60:.1f} min "
        f"({run['wall_s']:.0f} s), exit status {int(run['status'])}; Snakemake's own CPU "
        f"{run['snakemake_cpu_s']:.0f} s; peak memory of the whole run "
        f"{run['peak_rss_mb'] / 1024:.2f} GB."
    )
    if table.empty:
        return head + "\n"
    totals = f"Jobs: {int(table['jobs'].sum())}, job time {table['total_s'].sum():.0f} s"
    if "overhead_s" in table:
        totals += f", of it fixed cost (start-up and imports) {table['overhead_s'].sum():.0f} s"
    return f"{head}\n\n{totals}.\n\n{table.to_markdown(index=False)}\n"


def compare(before: Path, after: Path) -> str:
    """Two benchmark runs side by side (their work directories), per rule: job time and
    fixed cost, both estimated here the same way (:func:`per_rule`), with each run's totals.
    """
    runs = [
        json.loads((workdir / "benchmark.json").read_text())["run"] for workdir in (before, after)
    ]
    tables = [per_rule(workdir) for workdir in (before, after)]
    columns = ["jobs", "total_s", "overhead_s"]
    side = pd.concat(
        [
            table.set_index("rule")[columns].add_suffix(f" {name}")
            for table, name in zip(tables, ("before", "after"))
        ],
        axis=1,
    )
    side = side.fillna(0).sort_values("total_s before", ascending=False)
    side["change_s"] = side["total_s after"] - side["total_s before"]
    totals = pd.DataFrame(
        {
            name: {
                "wall time (s)": run["wall_s"],
                "job time (s)": table["total_s"].sum(),
                "of it fixed cost (s)": table["overhead_s"].sum(),
                "Snakemake's own CPU (s)": run["snakemake_cpu_s"],
                "peak memory of the run (GB)": run["peak_rss_mb"] / 1024,
                "jobs": table["jobs"].sum(),
            }
            for run, table, name in zip(runs, tables, ("before", "after"))
        }
    ).round(2)
    return (
        f"Before: {before}; after: {after}.\n\n{totals.to_markdown()}\n\n"
        f"{side.round(2).reset_index().to_markdown(index=False)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the study in a fresh working directory; print and save the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / ".benchmark")
    parser.add_argument(
        "--configfile",
        type=Path,
        action="append",
        default=[],
        help="a config merged over config/config.yaml (repeatable)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="print two finished runs' work directories side by side instead of running",
    )
    parser.add_argument("snakemake_args", nargs="*", help="extra arguments after --")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        return 0
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    configs = [path.resolve() for path in args.configfile]
    command = snakemake_command(
        args.workdir, configs, "--cores", str(args.cores), *SCHEDULER, *args.snakemake_args
    )
    # Snakemake runs in the work directory: a relative dataset folder means the caller's.
    env = {**os.environ, "TMPDIR": str(fresh_tmpdir(args.workdir))}
    if env.get(LOCAL_DIR_ENV):
        env[LOCAL_DIR_ENV] = str(Path(env[LOCAL_DIR_ENV]).expanduser().resolve())
    print("running:", " ".join(command), flush=True)
    run = sampled_run(command, env)
    table = per_rule(args.workdir)
    targets = [a for a in args.snakemake_args if not a.startswith("-") and "=" not in a]
    text = report(run, table, args.cores, f"Target {' '.join(targets)}" if targets else "")
    (args.workdir / "benchmark.md").write_text(text)
    (args.workdir / "benchmark.json").write_text(
        json.dumps({"run": run, "rules": table.to_dict(orient="records")}, indent=2, default=str)
    )
    print(text)
    return int(run["status"])


if __name__ == "__main__":
    sys.exit(main())
