"""Library chatter kept off a command's standard error.

TensorFlow, its converters and the LiteRT interpreter write to the standard error from
C++ (``I0000 ...``, "Created TensorFlow Lite XNNPACK delegate"), from Python logging and
from warnings, on every run. A command's standard error is for its own one-line answer:
:func:`silenced` points file descriptor 2 at a scratch file while the work runs (the C++
writers and Python's logging handlers write to the descriptor) and silences Python's
warnings, then restores both.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

#: Environment read by TensorFlow's C++ logging when it is first imported (3: errors only).
#: Logging only: a setting that changes arithmetic (``TF_ENABLE_ONEDNN_OPTS``) would make
#: a command's numbers differ from the workflow's jobs.
_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def silenced(enabled: bool = True) -> Iterator[None]:
    """Run the body with the standard error (descriptor 2) and Python's warnings silenced
    (logging still reaches its handlers: a tool's logged diagnosis can be read); with
    ``enabled=False`` everything is left as it is (``--verbose``)."""
    if not enabled:
        yield
        return
    unset = [key for key in _ENVIRONMENT if key not in os.environ]
    for key in unset:
        os.environ[key] = _ENVIRONMENT[key]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            for key in unset:  # the caller's environment as it was (child processes)
                os.environ.pop(key, None)
