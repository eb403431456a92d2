"""Run the workflow so that it also finishes a run that died (``kill -9``, out of memory,
power loss) with no hand steps.

A Snakemake process that dies without cleaning up leaves two things in its directory:

* ``.snakemake/locks/*.lock``: lists of paths, with no process id and no operating-system
  lock behind them. The next run stops with "Directory cannot be locked" until
  ``snakemake --unlock`` removes them.
* ``.snakemake/incomplete/``: a marker per output of every job that had started and not
  finished. The next run stops with ``IncompleteFilesException`` unless it is given
  ``--rerun-incomplete`` (delete those outputs, run their jobs again).

Removing the locks is safe only when nothing else works in the directory: with a live
Snakemake there, two processes would write the same files. So before it unlocks,
:func:`run` checks, and refuses with the list of what it found otherwise:

1. an exclusive ``flock`` on ``.snakemake/convstudy-resume.flock``, held for the whole run
   (the kernel drops it when its holder dies, even by ``kill -9``): two of these wrappers
   never run on one directory at once;
2. the process table: no Snakemake process and no job of one (``.snakemake/scripts/``),
   other than this process and its ancestors, has its working directory in the directory
   (Snakemake changes into it; so do its local jobs, and a job orphaned by a kill of the
   main process alone keeps running there);
3. SLURM, when ``squeue`` answers: no queued or running job works in the directory (jobs
   of a killed run keep running on the cluster).

Then it runs ``snakemake --unlock`` (only when lock files exist) and the run itself with
``--rerun-incomplete``. Finished jobs are not redone (their outputs carry no marker), and
every output is written under a temporary name and renamed when complete
(:mod:`convstudy.atomic`), so a partial file never stands under a final name.

Temporary files of the run (Snakemake's own, the converters', textattack's) go to
``.snakemake/convstudy/tmp/`` (``TMPDIR``), not to the system's temporary folder, and that
folder is emptied before each run, once nothing works in the directory: a killed run
leaves nothing behind outside its directory, and nothing inside it for long.

``python -m convstudy.resume [--wait SECONDS] SNAKEMAKE_ARGS...`` (``make study`` uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from base64 import urlsafe_b64decode
from collections.abc import Iterator, Sequence
from pathlib import Path

from convstudy.atomic import remove, temporary_sibling

logger = logging.getLogger("convstudy.resume")

FLOCK = ".snakemake/convstudy-resume.flock"
#: The run's temporary folder (its ``TMPDIR``), emptied before each run.
TMPDIR = ".snakemake/convstudy/tmp"
#: Snakemake's console output of the last run, when the progress view replaces it.
RUN_LOG = ".snakemake/convstudy/last-run.log"
#: Exit status when the directory is busy (``EX_TEMPFAIL``: try again later).
BUSY_EXIT = 75
_FORBIDDEN = ("--unlock", "--nolock", "--ignore-incomplete", "--ii")


class WorkdirBusy(RuntimeError):
    """Something still works in the directory: resuming now would race with it."""

    def __init__(self, workdir: Path, holders: Sequence[str]) -> None:
        self.workdir = workdir
        self.holders = list(holders)
        super().__init__(f"{workdir} is in use, not resuming:\n  " + "\n  ".join(self.holders))


def _ancestors(pid: int) -> set[int]:
    seen: set[int] = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            # the command name may hold spaces and parentheses: split after the last ')'
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return seen


def is_workflow_process(argv: Sequence[str]) -> bool:
    """Whether a command line is Snakemake's (``snakemake ...``, ``python -m snakemake``)
    or one of its jobs' (a ``.snakemake/scripts/`` file); a ``tail -f`` of a log is not."""
    for i, arg in enumerate(argv):
        if Path(arg).name == "snakemake" or ".snakemake/scripts/" in arg:
            return True
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "snakemake":
            return True
    return False


def processes_in(workdir: Path) -> list[str]:
    """Snakemake processes and jobs (not this process or its ancestors) working in
    ``workdir``, one line each."""
    workdir = workdir.resolve()
    mine = _ancestors(os.getpid())
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{entry.name}/cwd"))
            raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:  # gone, a kernel thread, or another user's
            continue
        argv = raw.decode(errors="replace").rstrip("\0").split("\0")
        cmdline = " ".join(argv)
        if (cwd == workdir or workdir in cwd.parents) and is_workflow_process(argv):
            found.append(f"pid {entry.name} (in {cwd}): {cmdline[:200]}")
    return found


def slurm_jobs_in(workdir: Path) -> list[str]:
    """Queued or running SLURM jobs whose working directory is ``workdir`` (none without
    SLURM or when its controller does not answer)."""
    if shutil.which("squeue") is None:
        return []
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--format=%i|%T|%Z|%j"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    workdir = workdir.resolve()
    jobs = []
    for line in out.splitlines():
        jobid, state, jobdir, name = (line.split("|") + ["", "", "", ""])[:4]
        if jobdir and Path(jobdir).resolve() == workdir:
            jobs.append(f"SLURM job {jobid} ({state}, {name}) in {jobdir}")
    return jobs


def incomplete_outputs(workdir: Path) -> list[str]:
    """Outputs that Snakemake marked as started and never finished."""
    root = workdir / ".snakemake" / "incomplete"
    if not root.is_dir():
        return []
    paths = []
    for marker in root.rglob("*"):
        if not marker.is_file() or marker.name == "migration_underway":
            continue
        # the marker's path is the base64 of the output's path, split into '@'-prefixed parts
        encoded = "".join(part.lstrip("@") for part in marker.relative_to(root).parts)
        try:
            paths.append(urlsafe_b64decode(encoded.encode()).decode())
        except ValueError:
            paths.append(str(marker))
    return sorted(paths)


def lock_files(workdir: Path) -> list[Path]:
    """Snakemake's lock files in ``workdir`` (live or stale)."""
    locks = workdir / ".snakemake" / "locks"
    return sorted(locks.glob("*.lock")) if locks.is_dir() else []


def leftover_temporaries(workdir: Path, outputs: Sequence[str]) -> list[Path]:
    """Temporary siblings (:func:`convstudy.atomic.temporary_sibling`) that interrupted
    jobs left beside their ``outputs``."""
    found = []
    for output in outputs:
        final = workdir / output
        pattern = temporary_sibling(final).name.replace(f".tmp-{os.getpid()}", ".tmp-*", 1)
        found.extend(sorted(final.parent.glob(pattern)) if final.parent.is_dir() else [])
    return found


@contextlib.contextmanager
def exclusive(workdir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` for ``workdir``; WorkdirBusy if another wrapper holds it."""
    path = workdir / FLOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text().strip() or "?"
            raise WorkdirBusy(workdir, [f"pid {holder} holds {path}"]) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the flock


def check_idle(workdir: Path, wait: float = 0.0, poll: float = 2.0) -> None:
    """Raise WorkdirBusy unless nothing works in ``workdir`` (waiting up to ``wait`` s)."""
    deadline = time.monotonic() + wait
    while True:
        holders = processes_in(workdir) + slurm_jobs_in(workdir)
        if not holders:
            return
        if time.monotonic() >= deadline:
            raise WorkdirBusy(workdir, holders)
        time.sleep(poll)


def workdir_of(args: Sequence[str]) -> Path:
    """The directory a Snakemake command line works in (``--directory``/``-d``, else here)."""
    for i, arg in enumerate(args):
        if arg in ("--directory", "-d") and i + 1 < len(args):
            return Path(args[i + 1]).resolve()
        if arg.startswith("--directory="):
            return Path(arg.split("=", 1)[1]).resolve()
    return Path.cwd().resolve()


def run(
    snakemake_args: Sequence[str],
    *,
    wait: float = 0.0,
    snakemake: Sequence[str] = (sys.executable, "-m", "snakemake"),
    progress: bool = False,
) -> int:
    """Run ``snakemake <args> --rerun-incomplete``, first removing stale locks (only when
    nothing works in the directory); return Snakemake's exit status. With ``progress``,
    the console shows :mod:`convstudy.progress`'s view and Snakemake's own output goes to
    :data:`RUN_LOG` (Snakemake keeps its log in ``.snakemake/log/`` too).

    Raises:
        WorkdirBusy: another Snakemake, a job of one or another wrapper works there.
        ValueError: the arguments ask for ``--unlock``, ``--nolock`` or to ignore
            incomplete outputs.
    """
    args = list(snakemake_args)
    for arg in args:
        if arg in _FORBIDDEN:
            raise ValueError(f"convstudy.resume decides {arg} itself; leave it out")
    workdir = workdir_of(args)
    base = [*snakemake, *args]
    with exclusive(workdir):
        check_idle(workdir, wait=wait)
        stale = lock_files(workdir)
        incomplete = incomplete_outputs(workdir)
        if stale:
            logger.warning(
                "stale Snakemake lock (%s) and nothing runs in %s: unlocking",
                ", ".join(p.name for p in stale),
                workdir,
            )
            subprocess.run([*base, "--unlock"], check=True, capture_output=True, timeout=600)
        for leftover in leftover_temporaries(workdir, incomplete):
            logger.info("removing %s (left by an interrupted job)", leftover)
            remove(leftover)
        if incomplete:
            logger.warning(
                "%d output(s) of interrupted jobs will be rebuilt: %s",
                len(incomplete),
                ", ".join(incomplete[:5]) + (" ..." if len(incomplete) > 5 else ""),
            )
        env = {**os.environ, "TMPDIR": str(fresh_tmpdir(workdir))}
        command = [*base, "--rerun-incomplete"]
        if progress:
            from convstudy.progress import follow

            return follow(command, cores=cores_of(args), log=workdir / RUN_LOG, env=env)
        return subprocess.run(command, check=False, env=env).returncode


def cores_of(args: Sequence[str]) -> int:
    """The cores a Snakemake command line gives (``--cores N``/``-c N``; 1 otherwise)."""
    for i, arg in enumerate(args):
        if arg in ("--cores", "-c", "--jobs", "-j") and i + 1 < len(args):
            return int(args[i + 1]) if args[i + 1].isdigit() else os.cpu_count() or 1
        if arg.startswith("--cores="):
            value = arg.split("=", 1)[1]
            return int(value) if value.isdigit() else os.cpu_count() or 1
    return 1


def fresh_tmpdir(workdir: Path) -> Path:
    """The run's temporary folder (:data:`TMPDIR`), emptied of what earlier runs left."""
    folder = workdir / TMPDIR
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m convstudy.resume [--wait S] SNAKEMAKE_ARGS...``."""
    parser = argparse.ArgumentParser(
        prog="python -m convstudy.resume",
        description="Run the workflow, finishing a run that was killed (stale lock, "
        "incomplete outputs) when nothing else works in its directory.",
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a busy directory"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help=f"show a progress view instead of Snakemake's log (kept in {RUN_LOG})",
    )
    ns, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="convstudy.resume: %(message)s")
    try:
        return run(rest, wait=ns.wait, progress=ns.progress)
    except WorkdirBusy as busy:
        print(f"convstudy.resume: {busy}", file=sys.stderr)
        return BUSY_EXIT
    except ValueError as error:
        print(f"convstudy.resume: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
