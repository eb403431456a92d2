"""The CoreML half of the study on a Mac, from the ``.mlpackage`` files converted on Linux.

The CoreML runtime exists on macOS only, so on Linux every CoreML prediction is a
``not_run`` row. With a copy of a Linux run's ``results/`` and ``data/prepared/`` (mtimes
kept: ``rsync -a``), this runs on macOS only the jobs that need the runtime: the CoreML
predictions and attack replays (forced, as their Linux records exist), and the comparisons
and robustness records that read them. Nothing is trained or converted again
(``--allowed-rules``), and a changed modification time alone triggers nothing else
(``--rerun-triggers mtime``). Copy the new files back and rerun the study on Linux: the
gather and report jobs pick them up.

``python -m convstudy.mac [SNAKEMAKE_ARGS...]`` (``make coreml-mac``); ``--list`` prints
the targets.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convstudy import registry

#: The rules that may run on the Mac.
MAC_RULES = ("predict", "compare", "replay", "robustness")
#: The runtime this is about.
RUNTIME = "coreml"


@dataclass(frozen=True)
class MacTargets:
    """The outputs to (re)make on the Mac: ``forced`` (their Linux versions say "not run")
    and ``downstream`` (remade because they read a forced one)."""

    forced: list[str]
    downstream: list[str]


def is_mac_route(route: str) -> bool:
    """Whether the model of ``route`` runs in the CoreML runtime."""
    return registry.fmt(registry.route_formats(route)[-1]).runtime == RUNTIME


def mac_targets(workdir: Path) -> MacTargets:
    """The CoreML targets of the run in ``workdir``, from its converted model folders."""
    forced: list[str] = []
    downstream: list[str] = []
    for folder in sorted((workdir / "results" / "converted").glob("*/*/seed*/*")):
        route = folder.name
        if not folder.is_dir() or route.startswith(".") or not is_mac_route(route):
            continue
        cell = folder.parent.relative_to(workdir / "results" / "converted").as_posix()
        forced.append(f"results/predictions/{cell}/{route}.json")
        downstream.append(f"results/metrics/{cell}/{route}.json")
        robust = workdir / "results" / "robustness" / cell
        for attack in sorted(p.name for p in robust.glob("*") if (p / "attack.json").is_file()):
            forced.append(f"results/robustness/{cell}/{attack}/replay/{route}.npz")
            downstream.append(f"results/robustness/{cell}/{attack}/{route}.json")
    return MacTargets(forced, downstream)


def mac_command(targets: MacTargets, snakemake_args: Sequence[str]) -> list[str]:
    """The Snakemake command that remakes ``targets`` and nothing upstream of them."""
    return [
        sys.executable, "-m", "snakemake", *snakemake_args,
        "--rerun-triggers", "mtime",
        "--config", "mac_replay_only=True",  # the Linux attack selections stand
        "--allowed-rules", *MAC_RULES,
        "--forcerun", *targets.forced,
        "--", *targets.forced, *targets.downstream,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m convstudy.mac [--list] [SNAKEMAKE_ARGS...]``."""
    parser = argparse.ArgumentParser(prog="python -m convstudy.mac", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print the targets and stop")
    parser.add_argument("--workdir", type=Path, default=Path.cwd(), help="the copied run")
    ns, rest = parser.parse_known_args(argv)
    targets = mac_targets(ns.workdir.resolve())
    if not targets.forced:
        print(
            f"convstudy.mac: no CoreML model folders under {ns.workdir}/results/converted "
            "(copy a Linux run's results/ and data/prepared/ here first)",
            file=sys.stderr,
        )
        return 1
    if ns.list:
        print("\n".join([*targets.forced, *targets.downstream]))
        return 0
    directory = ["--directory", str(ns.workdir)] if ns.workdir != Path.cwd() else []
    return subprocess.run(mac_command(targets, [*directory, *rest]), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
