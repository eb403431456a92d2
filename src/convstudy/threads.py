"""Thread counts: every job sets them from its Snakemake `threads:` before any work.

Two 2-thread jobs on 2 cores ran up to 7x slower than one: oversubscription is the
largest source of noise in timings, so each framework is told exactly how many to use.
"""

from __future__ import annotations

import os


def limit_threads(n: int, framework: str | None = None) -> None:
    """Limit the numeric libraries of this process (and ``framework``) to ``n`` threads.

    Args:
        n: the job's thread count.
        framework: "torch" or "keras" to configure that framework now; None configures
            only the environment (onnxruntime is configured per session).
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if framework == "torch":
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process: it may be set once only
            pass
    elif framework == "keras":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already started in this process: keep its setting
            pass
