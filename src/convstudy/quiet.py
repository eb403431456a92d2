"""A quiet window for timing: while a prediction job times a model, every other job of the
run on this machine is paused, so that timings never share the CPU; outside the window the
other cores do other work (a timing job does not hold every core for its whole run).

:func:`quiet_window` takes a machine-wide lock (one timed section at a time), stops the
other jobs of the run (the processes working in the run's directory that run a Snakemake
job script, and their children) with ``SIGSTOP``, and continues them with ``SIGCONT`` when
the section ends. A watchdog process continues them too if the timing job dies inside
the window (``kill -9``, out of memory), so a paused job never stays paused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: The lock file that admits one timed section at a time, in the run's directory.
LOCK = ".snakemake/convstudy/timing.lock"
#: The watchdog: its stdin is a pipe from the timing job, which reaches its end when the job
#: closes it or dies; then it continues the paused pids (continuing a running process does
#: nothing, so it does not matter which of the two happened).
_WATCHDOG = """
import os, signal, sys
for pid in [int(line) for line in sys.stdin]:
    try:
        os.kill(pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        pass
"""


def other_jobs(workdir: Path) -> list[int]:
    """The processes of the run's other jobs on this machine (and their descendants), not
    this process or its ancestors, nor Snakemake itself."""
    import psutil

    from convstudy.resume import is_workflow_process

    workdir = workdir.resolve()
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    found: set[int] = set()
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        if info["pid"] in mine or not info["cmdline"] or info["cwd"] is None:
            continue
        script = any(".snakemake/scripts/" in arg for arg in info["cmdline"])
        if not script or Path(info["cwd"]).resolve() != workdir:
            continue
        if not is_workflow_process(info["cmdline"]):
            continue
        with contextlib.suppress(psutil.Error):
            found.add(proc.pid)
            found.update(child.pid for child in proc.children(recursive=True))
    return sorted(found - mine)


def _signal(pids: list[int], sig: signal.Signals) -> list[int]:
    """Send ``sig`` to ``pids``; return those that received it."""
    reached = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            reached.append(pid)
    return reached


@contextlib.contextmanager
def quiet_window(workdir: str | Path = ".") -> Iterator[int]:
    """Pause the run's other jobs on this machine for the ``with`` block; yield how many
    processes were paused."""
    workdir = Path(workdir)
    lock_path = workdir / LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one timed section at a time
        # the watchdog learns each pid before it is paused: whenever this job ends, it
        # continues every one of them
        watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG], stdin=subprocess.PIPE, text=True
        )
        assert watchdog.stdin is not None
        paused = []
        try:
            for pid in other_jobs(workdir):
                watchdog.stdin.write(f"{pid}\n")
                watchdog.stdin.flush()
                paused += _signal([pid], signal.SIGSTOP)
            yield len(paused)
        finally:
            _signal(paused, signal.SIGCONT)
            watchdog.stdin.close()
            watchdog.wait()
            fcntl.flock(lock, fcntl.LOCK_UN)
