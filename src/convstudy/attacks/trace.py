"""The Boundary attack's progress: how far its adversarial examples are from their clean
inputs after chosen numbers of steps, observed inside foolbox's own loop (one run, no copy
of the loop).

foolbox 3.3.4's ``BoundaryAttack.run`` reports every step to a ``TensorBoard`` object (a
no-op unless logging is asked for). While the attack runs, that object is replaced by a
:class:`Trace`, which sees the ``"batchsize"`` scalar (logged once, before the first step)
and, per step, ``"new_best_adv"``: the inputs whose candidate became their new best. The
attack's model queries pass through the counting model, which hands them to
:meth:`Trace.query`; the first query of a step is that step's candidates (every tenth step
queries the spherical candidates after them). So the best at step s is the best at step
s - 1 with the adopted candidates of step s. When the attack ends, :meth:`Trace.verify`
checks that the reconstruction equals what foolbox returns, bit for bit: a foolbox whose
loop differs fails there instead of producing a wrong curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from convstudy.attacks import BOUND_SLACK


@dataclass(frozen=True)
class Checkpoint:
    """The attacked inputs' best adversarial examples after ``steps`` steps: per input, the
    L2 and L-infinity distance to its clean input ([0, 1] pixel units), and the CPU and
    wall seconds the attack had spent (starting points included)."""

    steps: int
    l2: np.ndarray
    linf: np.ndarray
    cpu_seconds: float
    wall_seconds: float


def _numpy(tensor: Any) -> np.ndarray:
    """An eagerpy / framework tensor as a numpy array (a copy: foolbox reuses buffers)."""
    return np.array(tensor.numpy() if hasattr(tensor, "numpy") else tensor)


class Trace:
    """Stands in for foolbox's ``TensorBoard`` during one Boundary attack (see the module).

    Args:
        originals: the clean inputs, in the layout and [0, 1] domain the attack sees.
        steps: the steps after which to record a :class:`Checkpoint`.
    """

    def __init__(self, originals: np.ndarray, steps: Sequence[int]) -> None:
        self.originals = originals.astype(np.float64).reshape(
            len(originals), originals[0].size if len(originals) else 0
        )
        self.wanted = set(steps)
        self.checkpoints: list[Checkpoint] = []
        self.best: np.ndarray | None = None
        self._candidates: np.ndarray | None = None
        self._expect_candidates = False
        self._clock = (time.process_time(), time.perf_counter())

    def start(self, starting_points: np.ndarray) -> None:
        """The attack's starting points: the best before its first step."""
        self.best = np.array(starting_points)

    def query(self, inputs: Any) -> None:
        """A batch the attack asked the model about (from the counting model)."""
        if self._expect_candidates:
            self._candidates = _numpy(inputs)
            self._expect_candidates = False

    # ---- the TensorBoard methods foolbox's loop calls

    def scalar(self, tag: str, value: Any, step: int) -> None:
        if tag == "batchsize":  # logged once, just before step 1's candidates
            self._expect_candidates = True

    def probability(self, tag: str, value: Any, step: int) -> None:
        if tag != "new_best_adv":
            return
        if self.best is None or self._candidates is None:
            raise RuntimeError("foolbox's Boundary loop did not run as traced (no candidates)")
        adopted = _numpy(value).reshape(-1).astype(bool)
        self.best[adopted] = self._candidates[adopted]
        self._expect_candidates = True
        if step in self.wanted:
            self._record(step)

    def __getattr__(self, name: str) -> Callable[..., None]:
        # foolbox's other TensorBoard methods (mean, histogram, close, ...): nothing to see
        return lambda *args, **kwargs: None

    # ----

    def _record(self, step: int) -> None:
        assert self.best is not None
        diff = self.best.astype(np.float64).reshape(self.originals.shape) - self.originals
        self.checkpoints.append(
            Checkpoint(
                steps=step,
                l2=np.linalg.norm(diff, axis=1),
                linf=np.abs(diff).max(axis=1, initial=0.0),
                cpu_seconds=time.process_time() - self._clock[0],
                wall_seconds=time.perf_counter() - self._clock[1],
            )
        )

    def verify(self, result: np.ndarray) -> None:
        """Raise unless the traced best equals the attack's result (see the module)."""
        if self.best is None or not np.array_equal(self.best, result):
            raise RuntimeError(
                "the traced Boundary examples differ from foolbox's result: its loop is not "
                "the one convstudy.attacks.trace follows (foolbox 3.3.4)"
            )

    @contextmanager
    def observing(self) -> Iterator[Trace]:
        """Within the block, foolbox's Boundary attack reports its steps to this trace."""
        from unittest import mock

        from foolbox.attacks import boundary_attack

        with mock.patch.object(boundary_attack, "TensorBoard", lambda logdir: self):
            yield self


def summary(
    checkpoints: Sequence[Checkpoint], n: int, bounds: dict[str, float]
) -> dict[str, list[float | int]]:
    """The trajectory as a record keeps it: per checkpoint, the steps, the median L2 and
    L-infinity distance over the inputs that had a starting point, the number of the ``n``
    attacked inputs whose example lies within each bound of ``bounds`` (``"linf"``,
    ``"l2"``: an input without a starting point has no example), and CPU and wall
    seconds per input."""
    table: dict[str, list[float | int]] = {
        "steps": [c.steps for c in checkpoints],
        "median_l2": [float(np.median(c.l2)) for c in checkpoints],
        "median_linf": [float(np.median(c.linf)) for c in checkpoints],
    }
    for norm, bound in bounds.items():
        table[f"k_{norm}"] = [
            int((getattr(c, norm) <= bound + BOUND_SLACK).sum()) for c in checkpoints
        ]
    table["cpu_seconds_per_input"] = [c.cpu_seconds / n for c in checkpoints]
    table["wall_seconds_per_input"] = [c.wall_seconds / n for c in checkpoints]
    return table
