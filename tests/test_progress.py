"""The progress view of `make study`: jobs done of the total, what runs, the time left."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from convstudy.progress import Progress, follow

#: The parts of Snakemake 9's console output the view reads (from a real run's log).
OUTPUT = """\
Job stats:
job                    count
-------------------  -------
prepare_dataset            1
train                      2
convert                    2
all                        1
total                      6

[Fri Dec  4 16:31:23 2026]
localrule prepare_dataset:
    output: data/prepared/mnist.npz, data/prepared/mnist.json
    jobid: 3
[Fri Dec  4 16:31:33 2026]
Finished jobid: 3 (Rule: prepare_dataset)
1 of 6 steps (17%) done
localrule train:
    jobid: 2
localrule train:
    jobid: 4
Finished jobid: 2 (Rule: train)
2 of 6 steps (33%) done
Error in rule train:
    jobid: 4
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 10.0  # each reading of the clock is ten seconds later
        return self.now


def test_the_view_counts_jobs_names_stages_and_estimates_what_is_left() -> None:
    progress = Progress(cores=2, clock=Clock())
    urgent = [progress.feed(line) for line in OUTPUT.splitlines()]
    assert progress.planned["convert"] == 2 and progress.total == 6
    assert (progress.done, progress.finished["train"]) == (2, 1)
    assert [u for u in urgent if u] == [
        "error in rule train (its log says why; --keep-going goes on)"
    ]
    # prepare took 10 s, the first train 20 s; left: one train (20 s) and two converts (no
    # mean yet: every finished job's, 15 s), on 2 cores
    assert progress.seconds_left() == (1 * 20 + 2 * 15) / 2
    lines = progress.lines()
    assert lines[0].startswith("convstudy: 2/6 jobs (33%), ") and "left" in lines[0]
    assert lines[1] == "  running: train (training)"
    assert lines[2].startswith("  1 failed; last: error in rule train")


def test_follow_keeps_the_whole_log_and_shows_a_few_lines(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write(open(sys.argv[1]).read())"
    source = tmp_path / "output.txt"
    source.write_text(OUTPUT)
    shown = io.StringIO()
    log = tmp_path / "run.log"
    status = follow([sys.executable, "-c", script, str(source)], cores=2, log=log, out=shown)
    assert status == 0 and log.read_text() == OUTPUT
    view = shown.getvalue().splitlines()
    assert len(view) < 10 and view[-1] == f"convstudy: the full log of the run is in {log}"
    assert any(line.startswith("convstudy: 2/6 jobs (33%)") for line in view)
