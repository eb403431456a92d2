"""Thread counts: every job sets them from its Snakemake `threads:` before any work.

Two 2-thread jobs on 2 cores ran up to 7x slower than one: oversubscription is the
largest source of noise in timings, so each library is told exactly how many to use.
"""

from __future__ import annotations

import os

#: The variables OpenMP, MKL and OpenBLAS read when they start.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(n: int, framework: str | None = None) -> None:
    """Limit the numeric libraries of this process (and ``framework``) to ``n`` threads.

    Args:
        n: the job's thread count.
        framework: a framework name (its adapter is configured now); None configures
            only the environment (onnxruntime is configured per session).
    """
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if framework is not None:
        from convstudy.frameworks import adapter

        adapter(framework).limit_threads(n)
