"""The adapter shared by workflow scripts: log to the job's log file, fail in one line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from convstudy import envs, lean_imports
from convstudy.errors import ConvstudyError


class SnakemakeJob(Protocol):
    """What the adapter reads of the ``snakemake`` object Snakemake gives a script."""

    log: list[str]
    rule: str
    wildcards: Mapping[str, str]
    config: Mapping[str, Any]


def local_data_dir(job: SnakemakeJob) -> str | None:
    """The local dataset copy a job reads (``datasets.local_dir``, else $CONVSTUDY_DATA_DIR).

    Read here, not passed as a ``params:`` value, on purpose: its files are verified against
    their pinned sha256, so the same bytes in another folder must not rerun anything (a
    parameter would rerun the whole study when the copy moves).
    """
    from convstudy.config import local_data_dir as resolve

    return resolve(job.config)


@contextlib.contextmanager
def job_log(job: SnakemakeJob) -> Iterator[logging.Logger]:
    """Send everything a job prints (Python logging, framework C++ output) to its log.

    A :class:`ConvstudyError` (bad input) is written to the log and, as one line, to the
    console, and ends the job with exit status 1; any other exception is a bug and keeps
    its traceback in the log. Frameworks import without the optional dependencies no job
    uses (:mod:`convstudy.lean_imports`). With ``$CONVSTUDY_CHECK_ENVS`` set to 1, the body
    runs with only the distributions of the job's conda env importable (:mod:`convstudy.envs`):
    scripts import the package's job functions inside the ``with`` block for that reason.
    """
    path = Path(job.log[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    console = os.fdopen(os.dup(2), "w")
    log_file = open(path, "a", buffering=1)  # noqa: SIM115 -- fds 1 and 2 point at it until exit
    # File-descriptor level, so that TensorFlow's and onnxruntime's C++ logs land here too.
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(log_file)],
        force=True,
    )
    logger = logging.getLogger("convstudy.job")
    logger.info("convstudy package: %s", Path(__file__).parent)
    started = _process_age()
    lean_imports.install()
    guard = None
    if os.environ.get(envs.CHECK_ENV_VAR) == "1":
        directive = job.config[envs.RULE_ENVS_KEY][job.rule]
        guard = envs.EnvImportGuard(envs.job_env(directive, dict(job.wildcards.items())))
        guard.install()
    try:
        yield logger
        if guard is not None:
            _log_env_verdict(logger, guard)
        logger.info("%s", job_costs(started))
    except ConvstudyError as error:
        logger.error("%s", error)
        console.write(f"convstudy: {error}\n")
        console.flush()
        sys.exit(1)
    except Exception:
        if guard is not None:
            logger.error(
                "conda env check: the job failed with only envs/%s.yaml importable; "
                "hidden from it: %s",
                guard.name,
                ", ".join(sorted(guard.refused)) or "none",
            )
        logger.exception("job failed (a bug, not a finding); traceback follows")
        console.write(f"convstudy: job failed, see {path}\n")
        console.flush()
        raise
    finally:
        if guard is not None:
            guard.uninstall()
        logging.shutdown()


#: Heavy packages whose import is part of a job's fixed cost (the benchmark times each one).
FRAMEWORKS = ("torch", "tensorflow", "keras", "coremltools", "tf2onnx", "onnx2tf", "onnxruntime",
              "onnx", "foolbox", "textattack", "ai_edge_litert", "pandas", "matplotlib", "scipy")  # fmt: skip
#: How the last line of a job's log starts (read by :mod:`convstudy.benchmark`).
COSTS_PREFIX = "job costs:"


def _process_age() -> float:
    """Seconds since this process started (interpreter start, Snakemake's script preamble
    and this package's import: the fixed cost before a job's code runs)."""
    try:  # Linux's process table; elsewhere the age is not known
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as uptime:
            now = float(uptime.read().split()[0])
    except OSError:
        return float("nan")
    return max(now - int(fields[19]) / os.sysconf("SC_CLK_TCK"), 0.0)


def job_costs(startup: float) -> str:
    """One line for the job's log: its start-up time, the heavy packages it imported, and
    what it has cost so far: wall seconds since its process started, CPU seconds (its own
    and its finished child processes'), and its peak resident memory (the larger of its own
    and its largest child's).

    Measured here, by the process itself, rather than by Snakemake's ``benchmark:``
    directive: that samples every job's process tree from the Snakemake process (every
    0.5 s for a job's first 15 s, reading each process's ``smaps``): 55 % of the Snakemake
    process's CPU samples in 90 s of a default run (py-spy), on the same two cores as the
    jobs; and it misses the CPU time of jobs shorter than a sample.
    """
    imported = [name for name in FRAMEWORKS if name in sys.modules]
    wall, cpu, rss_mb = _process_age(), float("nan"), float("nan")
    with contextlib.suppress(ImportError):  # `resource` is Unix-only
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        per_mb = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, else kB
        rss_mb = max(_own_peak_kb() or own.ru_maxrss, children.ru_maxrss) / per_mb
    return (
        f"{COSTS_PREFIX} startup {startup:.2f} s; imported {' '.join(imported) or '-'}; "
        f"wall {wall:.2f} s; cpu {cpu:.2f} s; max_rss {rss_mb:.1f} MB"
    )


def _own_peak_kb() -> int | None:
    """This process's peak resident memory (kB) since it was exec'd: Linux's ``VmHWM``.
    ``getrusage``'s ``ru_maxrss`` keeps the peak of the process image before the exec, the
    fork of Snakemake that started the job (about 200 MB), so small jobs would all read as
    Snakemake's size. None where ``/proc`` does not say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _log_env_verdict(logger: logging.Logger, guard: envs.EnvImportGuard) -> None:
    outside = guard.imported_outside()
    if outside:
        logger.warning(
            "conda env check: envs/%s.yaml lacks %s, imported before the check began",
            guard.name,
            ", ".join(sorted(outside)),
        )
        return
    logger.info(
        "conda env check: envs/%s.yaml provides everything this job imported; "
        "hidden from it (optional, the job went on without them): %s",
        guard.name,
        ", ".join(sorted(guard.refused)) or "none",
    )
