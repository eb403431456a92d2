"""Framework adapters: everything that differs between PyTorch and Keras, behind one interface.

Each adapter module (``torch``, ``keras``; registered in :data:`convstudy.registry.FRAMEWORKS`)
provides the functions of :class:`Adapter`. Code outside the adapters never asks which
framework it holds: it asks the adapter. The adapters import their framework inside each
function, so importing them is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from convstudy import registry
from convstudy.spec import ModelSpec

#: One batch of a model's own input -> its outputs (logits), as numpy arrays.
Predict = Callable[[np.ndarray], np.ndarray]
#: (train_loss, train_acc) of one epoch over (x, y) batches in the given order.
EpochFn = Callable[[np.ndarray, np.ndarray], tuple[float, float]]
#: (loss, acc) on a whole split.
EvalFn = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


class Adapter(Protocol):
    """What a framework adapter module provides."""

    def seed(self, seed: int) -> None:
        """Seed the framework and ask it for deterministic kernels."""

    def use_device(self, requested: str) -> str:
        """Run training and inference on ``requested`` ("auto": a CUDA GPU when the
        framework sees one, else the CPU; "cpu"; "cuda" or "cuda:N") with deterministic
        kernels; return the device used ("cpu" or "cuda:N"). Call it before the framework
        starts (first in a job)."""

    def limit_threads(self, n: int) -> None:
        """Use ``n`` threads for the framework's kernels (and one inter-op thread)."""

    def thread_counts(self) -> dict[str, int]:
        """The thread counts the framework reports now."""

    def save(self, model: Any, path: Path) -> None:
        """Save a trained model as this framework's artifact."""

    def load(self, path: Path, spec: ModelSpec, *, unroll: bool = False) -> Any:
        """Load an artifact safely (no arbitrary code or pickle), in inference mode."""

    def predictor(self, model: Any) -> Predict:
        """The model's batch inference function (no training-mode layers)."""

    def weights(self, model: Any) -> dict[str, np.ndarray]:
        """Every floating-point weight (incl. BatchNorm statistics), float32, by name."""

    def set_weights(self, model: Any, weights: Mapping[str, np.ndarray]) -> None:
        """Assign weights given in the form :meth:`weights` returns."""

    def count_parameters(self, model: Any) -> int:
        """Number of trainable parameters."""

    def trainer(self, model: Any, hyper: Mapping[str, Any]) -> tuple[EpochFn, EvalFn]:
        """One-epoch and evaluation functions with the study's shared hyperparameters."""

    def foolbox_model(self, model: Any, bounds: tuple[float, float]) -> Any:
        """The model as a foolbox 3 model (inference mode) with input ``bounds``."""

    def tensor(self, array: np.ndarray) -> Any:
        """A numpy array as this framework's tensor (what foolbox takes)."""


def adapter(name: str) -> Adapter:
    """The adapter of framework ``name``."""
    return cast(Adapter, registry.module(registry.framework(name).adapter))


def progress(batch: int, n_batches: int, log: Callable[..., None]) -> None:
    """Log about every fifth of an epoch, so that long epochs show progress in the job log."""
    if n_batches >= 10 and batch % (n_batches // 5) == 0 and batch < n_batches:
        log("  batch %d/%d", batch, n_batches)


def load(folder: Path, spec: ModelSpec | None = None, *, unroll: bool = False) -> Any:
    """Load the framework model of a model folder (its ``spec.json`` names the framework)."""
    spec = spec or ModelSpec.load(folder)
    return adapter(spec.format).load(
        folder / registry.fmt(spec.format).artifact, spec, unroll=unroll
    )
