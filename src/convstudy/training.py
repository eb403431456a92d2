"""Seeded training of one (model, framework, seed) cell with the shared hyperparameters.

Both frameworks see the same batches in the same order: the per-epoch permutation is
drawn in numpy from the seed, not by a framework's data loader.
"""

from __future__ import annotations

import csv
import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import checkpoints, models
from convstudy.config import NUM_CLASSES
from convstudy.data import load_prepared, subset
from convstudy.provenance import job_provenance, read_json, sha256_file, write_json
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)

#: (train_loss, train_acc) of one epoch from (x, y) batches in order.
EpochFn = Callable[[np.ndarray, np.ndarray], tuple[float, float]]
#: (loss, acc) on a whole split.
EvalFn = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


def seed_everything(seed: int, framework: str) -> None:
    """Seed Python, numpy and the framework; ask the framework for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    if framework == "torch":
        import torch

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
    else:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()


def _progress(batch: int, n_batches: int) -> None:
    """Log about every fifth of an epoch, so that long epochs show progress in the job log."""
    if n_batches >= 10 and batch % (n_batches // 5) == 0 and batch < n_batches:
        logger.info("  batch %d/%d", batch, n_batches)


def _torch_steps(model: Any, hyper: Mapping[str, Any]) -> tuple[EpochFn, EvalFn]:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if hyper["optimizer"] == "sgd":
        opt = torch.optim.SGD(
            params, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"]
        )
    else:
        # eps as in Keras (1e-7; torch's default is 1e-8), so both run the same update rule.
        opt = torch.optim.Adam(params, lr=hyper["lr"], eps=1e-7, weight_decay=hyper["weight_decay"])
    loss_fn = torch.nn.CrossEntropyLoss()
    batch_size = hyper["batch_size"]

    def epoch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        model.train()
        total_loss, correct = 0.0, 0
        n_batches = -(-len(x) // batch_size)
        for batch, start in enumerate(range(0, len(x), batch_size), start=1):
            _progress(batch, n_batches)
            xb, yb = (
                torch.from_numpy(x[start : start + batch_size]),
                torch.from_numpy(y[start : start + batch_size]),
            )
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(xb)
            correct += int((logits.argmax(1) == yb).sum())
        return total_loss / len(x), correct / len(x)

    @torch.no_grad()
    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        model.eval()
        logits = torch.cat([model(torch.from_numpy(x[s : s + 512])) for s in range(0, len(x), 512)])
        target = torch.from_numpy(y)
        return float(loss_fn(logits, target)), float((logits.argmax(1) == target).float().mean())

    return epoch, evaluate


def _keras_steps(model: Any, hyper: Mapping[str, Any]) -> tuple[EpochFn, EvalFn]:
    import keras

    # Keras applies weight decay decoupled from the gradient (torch adds it to the
    # gradient); the two agree only without momentum. The default configs use 0.
    decay = hyper["weight_decay"] or None
    if hyper["optimizer"] == "sgd":
        opt = keras.optimizers.SGD(
            learning_rate=hyper["lr"], momentum=hyper["momentum"], weight_decay=decay
        )
    else:
        opt = keras.optimizers.Adam(learning_rate=hyper["lr"], weight_decay=decay)
    model.compile(
        optimizer=opt,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    batch_size = hyper["batch_size"]

    def epoch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        n_batches = -(-len(x) // batch_size)
        progress = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda b, logs=None: _progress(b + 1, n_batches)
        )
        history = model.fit(
            x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[progress]
        )
        return float(history.history["loss"][-1]), float(history.history["accuracy"][-1])

    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        loss, acc = model.evaluate(x, y, batch_size=512, verbose=0)
        return float(loss), float(acc)

    return epoch, evaluate


def train(
    *,
    model_name: str,
    framework: str,
    seed: int,
    dataset: str,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    threads: int,
    model_out: str | Path,
    history_out: str | Path,
    provenance_out: str | Path,
) -> None:
    """Train one cell and write the model, its per-epoch history and its provenance."""
    started = time.perf_counter()
    limit_threads(threads, framework)
    seed_everything(seed, framework)
    sizes = hyper["subset"]
    arrays = subset(load_prepared(data_path), sizes["train"], sizes["val"], sizes["test"])
    x_train = models.to_framework_input(arrays["x_train"], model_name, framework)
    x_val = models.to_framework_input(arrays["x_val"], model_name, framework)
    y_train, y_val = arrays["y_train"].astype(np.int64), arrays["y_val"].astype(np.int64)
    input_shape = tuple(arrays["x_train"].shape[1:])
    arch = checkpoints.arch_for(model_name, hyper["arch"], arrays)
    model = models.build(
        model_name, framework, input_shape=input_shape, num_classes=NUM_CLASSES[dataset], arch=arch
    )
    n_params = models.count_parameters(model, framework)
    logger.info(
        "%s/%s seed %d: %d parameters, %d training samples",
        model_name,
        framework,
        seed,
        n_params,
        len(x_train),
    )
    epoch_fn, eval_fn = (_torch_steps if framework == "torch" else _keras_steps)(model, hyper)

    order_rng = np.random.default_rng(seed)
    rows = []
    for epoch in range(1, hyper["epochs"] + 1):
        tic = time.perf_counter()
        perm = order_rng.permutation(len(x_train))
        train_loss, train_acc = epoch_fn(x_train[perm], y_train[perm])
        val_loss, val_acc = eval_fn(x_val, y_val)
        seconds = time.perf_counter() - tic
        rows.append(
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

    checkpoints.save(model, framework, model_out)
    with open(history_out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data_provenance = read_json(Path(data_path).with_suffix(".json"))
    write_json(
        provenance_out,
        {
            "model": model_name,
            "framework": framework,
            "seed": seed,
            "dataset": dataset,
            "dataset_sha256": sha256_file(data_path),
            "dataset_exact": data_provenance.get("exact", True),
            "input_shape": list(input_shape),
            "num_classes": NUM_CLASSES[dataset],
            "parameters": n_params,
            "epochs": hyper["epochs"],
            "seconds_per_epoch": float(np.mean([r["seconds"] for r in rows])),
            "final_val_acc": rows[-1]["val_acc"],
            "wall_seconds": time.perf_counter() - started,
            "hyper": dict(hyper),
            **job_provenance(threads=threads, params=dict(hyper)),
        },
    )
