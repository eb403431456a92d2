"""Run the default study from scratch and report wall time, time and memory per rule.

Usage: ``python -m convstudy.benchmark [--cores 2] [--workdir .benchmark] [-- snakemake args]``.
The per-rule times come from the ``benchmark:`` files Snakemake writes for each job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from convstudy.data.sources import LOCAL_DIR_ENV
from convstudy.resume import fresh_tmpdir

REPO = Path(__file__).resolve().parents[2]


def snakemake_command(
    workdir: Path, configfiles: Sequence[Path], *args: str, snakefile: Path | None = None
) -> list[str]:
    """The command that runs this checkout's workflow (or ``snakefile``'s) in ``workdir``.

    The workflow's ``config/config.yaml`` comes first, then ``configfiles`` merged over it
    (with any ``--configfile``, Snakemake no longer reads the Snakefile's ``configfile:``).
    """
    snakefile = snakefile or REPO / "Snakefile"
    configs = [snakefile.parent / "config" / "config.yaml", *configfiles]
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", *map(str, configs), *args,
    ]  # fmt: skip


def per_rule(benchmarks: Path) -> pd.DataFrame:
    """Per rule, from ``benchmarks/<rule>/**/*.tsv``: jobs, total, median and max seconds,
    and the largest peak resident memory of one job (MB)."""
    rows = []
    for tsv in sorted(benchmarks.rglob("*.tsv")):
        last = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append(
            {
                "rule": tsv.relative_to(benchmarks).parts[0],
                "seconds": float(last["s"]),
                "max_rss_mb": pd.to_numeric(last["max_rss"], errors="coerce"),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return (
        frame.groupby("rule")
        .agg(
            jobs=("seconds", "count"),
            total_s=("seconds", "sum"),
            median_s=("seconds", "median"),
            max_s=("seconds", "max"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .round(1)
        .sort_values("total_s", ascending=False)
        .reset_index()
    )


def main(argv: list[str] | None = None) -> int:
    """Run the study in a fresh working directory; print and save the timing table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / ".benchmark")
    parser.add_argument("snakemake_args", nargs="*", help="extra arguments after --")
    args = parser.parse_args(argv)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    command = snakemake_command(args.workdir, (), "--cores", str(args.cores), *args.snakemake_args)
    # Snakemake runs in the work directory: a relative dataset folder means the caller's.
    env = {**os.environ, "TMPDIR": str(fresh_tmpdir(args.workdir))}
    if env.get(LOCAL_DIR_ENV):
        env[LOCAL_DIR_ENV] = str(Path(env[LOCAL_DIR_ENV]).expanduser().resolve())
    print("running:", " ".join(command), flush=True)
    tic = time.perf_counter()
    status = subprocess.call(command, env=env)
    wall = time.perf_counter() - tic
    table = per_rule(args.workdir / "benchmarks")
    report = (
        f"Default study from scratch, --cores {args.cores}: wall time {wall / 60:.1f} min "
        f"({wall:.0f} s), exit status {status}.\n\n"
        + (table.to_markdown(index=False) if not table.empty else "")
    )
    (args.workdir / "benchmark.md").write_text(report + "\n")
    print(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
