"""A progress view of a Snakemake run a person can read: jobs done of the total, the stages
running now, the time elapsed and an estimate of the time left, in a few lines that update,
instead of the scheduler's log (which Snakemake keeps in ``.snakemake/log/``).

:class:`Progress` reads Snakemake's console output line by line (job starts, finishes,
``N of M steps`` and errors); :func:`follow` runs a Snakemake command through it. The time
left is estimated per rule: the jobs of each rule still to run times the mean duration of
that rule's finished jobs (or of all finished jobs, for a rule not seen yet), divided by the
cores.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

#: The stage of the study each rule belongs to, as the view names it.
STAGES: dict[str, str] = {
    "fetch_dataset": "data",
    "prepare_dataset": "data",
    "embedding": "data",
    "train": "training",
    "train_ablation": "ablation",
    "ablation_init": "ablation",
    "convert": "conversion",
    "read_weights": "CoreML read-back",
    "predict": "prediction",
    "compare": "comparison",
    "select": "RQ3",
    "attack": "RQ3",
    "attack_direct": "RQ3",
    "replay": "RQ3",
    "robustness": "RQ3",
    "matrix_path": "matrix",
    "localization_pairs": "localization",
    "localize": "localization",
    "import_source": "brought models",
    "convert_source": "brought models",
    "predict_source": "brought models",
    "compare_source": "brought models",
    "source_path": "brought models",
    "converter_env": "converter releases",
    "convert_version": "converter releases",
    "predict_version": "converter releases",
    "compare_version": "converter releases",
}
#: Rules that only gather files (named targets): not work a person waits for.
_TARGETS = {"all", "report", "rq1", "rq2", "rq3", "ablation", "matrix", "localization",
            "sources", "versions"}  # fmt: skip

_START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
_STEPS = re.compile(r"^(\d+) of (\d+) steps \(")
_ERROR = re.compile(r"^Error in rule (\w+):$")
_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")


def stage_of(rule: str) -> str:
    """The stage ``rule`` belongs to ("reports" for the tables and figures)."""
    return STAGES.get(rule, "reports")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


@dataclass
class Progress:
    """The state of a run, from its console output.

    Attributes:
        cores: the cores of the run (for the estimate of the time left).
        clock: the time source (seconds).
    """

    cores: int = 1
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    total: int = 0
    planned: Counter[str] = field(default_factory=Counter)
    finished: Counter[str] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)
    running: dict[int, tuple[str, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    _rule: str | None = None
    _in_stats: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock()

    def feed(self, line: str) -> str | None:
        """Take one line of Snakemake's output; return an error line worth showing now."""
        line = line.rstrip("\n")
        if line.startswith("Job stats:"):
            self._in_stats = True
            self.planned.clear()
            return None
        if self._in_stats:
            row = _STATS_ROW.match(line)
            if row and row[1] != "total":
                self.planned[row[1]] = int(row[2])
            elif row and row[1] == "total":
                self.total = max(self.total, int(row[2]))
                self._in_stats = False
            return None
        if start := _START.match(line):
            self._rule = start[1]
        elif (jobid := _JOBID.match(line)) and self._rule is not None:
            self.running[int(jobid[1])] = (self._rule, self.clock())
            self._rule = None
        elif finished := _FINISHED.match(line):
            now = self.clock()
            rule, began = self.running.pop(int(finished[1]), (finished[2], now))
            self.finished[rule] += 1
            self.durations.setdefault(rule, []).append(now - began)
        elif steps := _STEPS.match(line):
            self.done, self.total = int(steps[1]), int(steps[2])
        elif error := _ERROR.match(line):
            message = f"error in rule {error[1]} (its log says why; --keep-going goes on)"
            self.errors.append(message)
            return message
        elif line.startswith("convstudy:"):
            self.errors.append(line)
            return line
        return None

    def seconds_left(self) -> float | None:
        """The estimate of the time left, or None before any job finished."""
        every = [d for ds in self.durations.values() for d in ds]
        if not every:
            return None
        overall = sum(every) / len(every)
        work = 0.0
        for rule, count in self.planned.items():
            if rule in _TARGETS:
                continue
            left = max(count - self.finished[rule], 0)
            seen = self.durations.get(rule)
            work += left * (sum(seen) / len(seen) if seen else overall)
        return work / max(self.cores, 1)

    def lines(self) -> list[str]:
        """The view: jobs done and the time; the stages running; the last error if any."""
        elapsed = self.clock() - self.started
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = self.seconds_left()
        estimate = f", about {_clock(left)} left" if left is not None and self.done else ""
        running = Counter(rule for rule, _ in self.running.values() if rule not in _TARGETS)
        now = ", ".join(
            f"{rule}{f' x{n}' if n > 1 else ''} ({stage_of(rule)})" for rule, n in running.items()
        )
        head = f"convstudy: {self.done}/{self.total or '?'} jobs{share}, {_clock(elapsed)} elapsed"
        view = [head + estimate, f"  running: {now or '-'}"]
        if self.errors:
            view.append(f"  {len(self.errors)} failed; last: {self.errors[-1]}")
        return view


def follow(
    command: Sequence[str],
    *,
    cores: int,
    log: Path,
    out: IO[str] | None = None,
    env: dict[str, str] | None = None,
    every: float = 30.0,
) -> int:
    """Run ``command`` (a Snakemake command line), show its progress on ``out`` and keep its
    whole output in ``log``; return its exit status.

    On a terminal the view's lines are redrawn in place; elsewhere (CI, a file) a view is
    printed every ``every`` seconds, and errors as they happen.
    """
    out = out or sys.stdout
    tty = out.isatty()
    progress = Progress(cores=cores)
    shown, last = 0, 0.0
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("w") as keep,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            keep.write(line)
            urgent = progress.feed(line)
            now = time.monotonic()
            if tty and (urgent or now - last >= 0.5):
                last = now
                if shown:
                    out.write(f"\x1b[{shown}F")
                view = progress.lines()
                out.write("".join(f"\x1b[2K{text}\n" for text in view))
                shown = len(view)
            elif urgent or now - last >= every:
                out.write((urgent if urgent else progress.lines()[0]) + "\n")
                last = now
            out.flush()
        status = proc.wait()
    if not tty:
        out.write("\n".join(progress.lines()) + "\n")
    out.write(f"convstudy: the full log of the run is in {log}\n")
    out.flush()
    return status
