"""The training loop shared by every framework: same batches, same order, same epochs.

Both frameworks see the same batches in the same order: the per-epoch permutation is
drawn in numpy from the seed, not by a framework's data loader.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from convstudy.frameworks import Adapter

logger = logging.getLogger(__name__)


def fit(
    framework: Adapter,
    model: Any,
    hyper: Mapping[str, Any],
    *,
    seed: int,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
) -> list[dict[str, float]]:
    """Train ``model`` for ``hyper["epochs"]`` epochs; return the per-epoch history.

    Args:
        framework: the model's framework adapter.
        train, val: (inputs in the model's layout, int64 labels).
    """
    epoch_fn, eval_fn = framework.trainer(model, hyper)
    order = np.random.default_rng(seed)
    history = []
    for epoch in range(1, hyper["epochs"] + 1):
        tic = time.perf_counter()
        perm = order.permutation(len(train[0]))
        train_loss, train_acc = epoch_fn(train[0][perm], train[1][perm])
        val_loss, val_acc = eval_fn(*val)
        seconds = time.perf_counter() - tic
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "seconds": seconds,
            }
        )
        logger.info(
            "epoch %d/%d: train loss %.4f acc %.4f, val loss %.4f acc %.4f (%.1f s)",
            epoch,
            hyper["epochs"],
            train_loss,
            train_acc,
            val_loss,
            val_acc,
            seconds,
        )
    return history
