"""Adversarial attacks (RQ3): one module per attack, each with the same interface.

Interface of an attack module::

    attack(model: Any, spec: ModelSpec, x: np.ndarray, y: np.ndarray, *,
           settings: Mapping[str, Any], seed: int) -> Adversarial

``model`` is the original model, loaded with its framework adapter; ``x`` are
framework-neutral inputs (uint8 NHWC images or token ids) that the model classifies as
``y``. The attack runs on the original model, in the model's own input layout and pixel
domain ([0, 1], the bounds foolbox is given), and returns the adversarial inputs back in
framework-neutral form (float32 NHWC images in [0, 1]; token ids), so that every converted
model can be fed the same set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from convstudy.spec import ModelSpec

#: Pixel bounds of every image model's input (uint8 / 255).
IMAGE_BOUNDS = (0.0, 1.0)


@dataclass
class Adversarial:
    """An attack's result on a batch of inputs.

    Attributes:
        x: the adversarial inputs, framework-neutral (an input the attack did not flip
            is returned as the attack left it, and ``success`` says so).
        success: per input, whether the original model's label changed.
        queries: model rows evaluated by the attack (forward passes, gradients included).
        facts: anything else worth a column (settings actually used, dropped inputs).
    """

    x: np.ndarray
    success: np.ndarray
    queries: int
    facts: dict[str, Any] = field(default_factory=dict)


class AttackModule(Protocol):
    """What an attack module provides."""

    def attack(
        self,
        model: Any,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        *,
        settings: Mapping[str, Any],
        seed: int,
    ) -> Adversarial:
        """Attack ``model`` on ``x`` (labelled ``y``)."""


def perturbation(x: np.ndarray, adversarial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per input: the L2 and L-infinity norms of the perturbation, in the [0, 1] domain
    (uint8 inputs are scaled by 1/255 first)."""
    clean = x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)
    diff = (adversarial.astype(np.float64) - clean).reshape(len(x), -1)
    return np.linalg.norm(diff, axis=1), np.abs(diff).max(axis=1, initial=0.0)


#: Slack when a perturbation is compared with a bound ([0, 1] pixel units): float32
#: round-off, far below one grey level (1/255).
BOUND_SLACK = 1e-6


def bounds(settings: Mapping[str, Any]) -> dict[str, float]:
    """An attack's perturbation bounds (``"linf"``, ``"l2"``; [0, 1] pixel units) within
    which an example counts as a bounded success, from its settings ``epsilon_linf`` and
    ``epsilon_l2`` (the Boundary attack's; none for the others)."""
    return {
        norm: float(settings[f"epsilon_{norm}"])
        for norm in ("linf", "l2")
        if settings.get(f"epsilon_{norm}") is not None
    }


def within(
    x: np.ndarray, adversarial: np.ndarray, bound: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Per bound of ``bound`` (as :func:`bounds` gives), per input: whether its
    perturbation lies within it."""
    l2, linf = perturbation(x, adversarial)
    norms = {"l2": l2, "linf": linf}
    return {norm: norms[norm] <= epsilon + BOUND_SLACK for norm, epsilon in bound.items()}


def save(path: str | Path, *, clean: np.ndarray, labels: np.ndarray, result: Adversarial,
         indices: np.ndarray) -> None:  # fmt: skip
    """Write an adversarial set (npz): the adversarial and clean inputs, labels, success,
    and the inputs' indices in the evaluation set."""
    path = Path(path)
    part = path.with_name(path.name + ".part.npz")
    np.savez(part, x=result.x, clean=clean, labels=labels, success=result.success,
             indices=indices)  # fmt: skip
    part.replace(path)


def load(path: str | Path) -> dict[str, np.ndarray]:
    """Read an adversarial set written by :func:`save` (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def replay_status(outputs: str | Path) -> tuple[str, str]:
    """The status and reason of a replay's outputs file (rule ``replay``)."""
    with np.load(outputs) as data:
        return str(data["status"]), str(data["reason"])
