"""The quiet window of a timed prediction: the run's other jobs pause, then go on, even
when the timing job dies inside the window."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
from conftest import REPO

from convstudy.quiet import quiet_window

#: A stand-in for another job of the run: a Snakemake job script that keeps writing.
WORKER = (
    "import sys, time\nwhile True:\n    open(sys.argv[1], 'a').write('x')\n    time.sleep(0.02)\n"
)
#: A timing job that is killed inside its window.
TIMER = (
    "import sys, time\nfrom convstudy.quiet import quiet_window\n"
    "with quiet_window(sys.argv[1]) as n:\n    print('timing', n, flush=True)\n    time.sleep(60)\n"
)


def _grows(ticks: Path, seconds: float = 0.4) -> bool:
    before = ticks.stat().st_size if ticks.exists() else 0
    time.sleep(seconds)
    return (ticks.stat().st_size if ticks.exists() else 0) > before


def test_other_jobs_pause_in_the_window_and_go_on_after_even_if_the_timer_dies(
    tmp_path: Path,
) -> None:
    scripts = tmp_path / ".snakemake" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "tmp0.compare.py").write_text(WORKER)
    ticks = tmp_path / "ticks"
    worker = subprocess.Popen(
        [sys.executable, str(scripts / "tmp0.compare.py"), str(ticks)], cwd=tmp_path
    )
    try:
        assert _grows(ticks, 1.0)
        with quiet_window(tmp_path) as paused:
            assert paused == 1 and not _grows(ticks)
        assert _grows(ticks)
        timer = subprocess.Popen(
            [sys.executable, "-c", TIMER, str(tmp_path)],
            stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        assert timer.stdout is not None and timer.stdout.readline() == "timing 1\n"
        assert psutil.Process(worker.pid).status() == psutil.STATUS_STOPPED
        timer.kill()  # kill -9 inside the window
        timer.wait()
        deadline = time.monotonic() + 10
        while psutil.Process(worker.pid).status() == psutil.STATUS_STOPPED:
            assert time.monotonic() < deadline, "the worker stayed paused"
            time.sleep(0.05)
        assert _grows(ticks)
    finally:
        worker.kill()
        worker.wait()
