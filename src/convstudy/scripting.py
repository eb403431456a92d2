"""The adapter shared by workflow scripts: log to the job's log file, fail in one line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from convstudy.errors import ConvstudyError


@contextlib.contextmanager
def job_log(path: str | Path) -> Iterator[logging.Logger]:
    """Send everything a job prints (Python logging, framework C++ output) to ``path``.

    A :class:`ConvstudyError` (bad input) is written to the log and, as one line, to the
    console, and ends the job with exit status 1; any other exception is a bug and keeps
    its traceback in the log.
    """
    path = Path(path)
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
    try:
        yield logger
    except ConvstudyError as error:
        logger.error("%s", error)
        console.write(f"convstudy: {error}\n")
        console.flush()
        sys.exit(1)
    except Exception:
        logger.exception("job failed (a bug, not a finding); traceback follows")
        console.write(f"convstudy: job failed, see {path}\n")
        console.flush()
        raise
    finally:
        logging.shutdown()
