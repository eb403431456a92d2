"""The initialisation ablation's arms and the comparisons between them (no framework import).

An *arm* is one way of training a model: a framework, whose initial weights it starts from
(its own, or the other framework's, copied by the study's weight transfer) and where Adam's
epsilon enters the update. Every arm of a (model, seed) sees the same batches in the same
order with the same hyperparameters.

Adam, as the two frameworks implement it (torch 2.13 ``torch/optim/adam.py``, Keras 3.15
``keras/src/optimizers/adam.py``), with the same lr, betas and epsilon (1e-7, Keras'
default, given to torch too):

- torch:  ``theta -= lr / (1 - b1^t) * m_t / (sqrt(v_t) / sqrt(1 - b2^t) + eps)``
- Keras:  ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps)``

Keras adds epsilon to ``sqrt(v_t)`` before the bias correction, torch to the corrected
``sqrt(v_hat_t)``: Keras' update is torch's with ``eps / sqrt(1 - b2^t)`` in place of
``eps``, 31.6 times torch's at the first step, 4 times after 63 steps (one epoch of the
default LSTM/GRU), 1.6 times after 8 epochs and within 1.1 times after 1,750 steps. Everything else of the
update is the same. The arm ``torch-keras-eps`` trains PyTorch with Keras' placement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Arm:
    """One arm of the ablation.

    Attributes:
        name: its name in paths and tables.
        framework: the framework that trains it.
        init: whose initial weights: "own", or the other framework's model of the seed.
        adam_epsilon: where Adam's epsilon enters: "framework" (the framework's own place)
            or "keras" (Keras' place, in PyTorch).
        label: what it is, in a table or a figure legend.
    """

    name: str
    framework: str
    init: str
    adam_epsilon: str
    label: str

    @property
    def own(self) -> bool:
        """Whether this arm is the framework's ordinary training (the study's ``train``)."""
        return self.init == "own" and self.adam_epsilon == "framework"


#: Every arm, in table order.
ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("torch", "torch", "own", "framework", "PyTorch"),
        Arm("keras", "keras", "own", "framework", "Keras"),
        Arm("keras-from-torch", "keras", "torch", "framework", "Keras from PyTorch's init"),
        Arm("torch-from-keras", "torch", "keras", "framework", "PyTorch from Keras' init"),
        Arm("torch-keras-eps", "torch", "own", "keras", "PyTorch, Adam eps placed as Keras"),
    )
}


@dataclass(frozen=True)
class Gap:
    """A PyTorch - Keras accuracy gap between two arms of the same seed.

    Attributes:
        name: its name in tables.
        torch, keras: the arms whose accuracies are subtracted (``torch - keras``).
        label: what the two arms share.
    """

    name: str
    torch: str
    keras: str
    label: str


#: The gaps, each PyTorch minus Keras, in table order.
GAPS: dict[str, Gap] = {
    gap.name: gap
    for gap in (
        Gap("own", "torch", "keras", "each framework's own initialisers"),
        Gap("matched", "torch", "keras-from-torch", "both from PyTorch's initial weights"),
        Gap("reverse", "torch-from-keras", "keras", "both from Keras' initial weights"),
        Gap(
            "matched-eps",
            "torch-keras-eps",
            "keras-from-torch",
            "both from PyTorch's initial weights, Adam's epsilon placed as Keras places it",
        ),
    )
}


@dataclass(frozen=True)
class Effect:
    """A per-seed difference ``a - b`` of two gaps or of two arms, and what it measures.

    Attributes:
        name: its name in tables.
        a, b: the gaps (``kind == "gap"``) or arms (``kind == "arm"``) subtracted.
        kind: what ``a`` and ``b`` name.
        label: the intervention, as the subject of a sentence.
        subject: what the intervention changes.
    """

    name: str
    a: str
    b: str
    kind: str
    label: str
    subject: str


#: What the ablation asks: does an intervention change the gap (or an arm's accuracy)?
EFFECTS: dict[str, Effect] = {
    effect.name: effect
    for effect in (
        Effect(
            "matched-vs-own",
            "matched",
            "own",
            "gap",
            "starting Keras from PyTorch's initial weights",
            "the gap",
        ),
        Effect(
            "reverse-vs-own",
            "reverse",
            "own",
            "gap",
            "starting PyTorch from Keras' initial weights",
            "the gap",
        ),
        Effect(
            "eps-vs-torch",
            "torch-keras-eps",
            "torch",
            "arm",
            "placing Adam's epsilon as Keras does",
            "PyTorch's accuracy",
        ),
    )
}


#: Earlier records' names of an initialisation: "matched" was Keras from PyTorch's weights.
LEGACY_INITS = {"matched": "torch"}


def arm_of(framework: str, init: str, hyper: Mapping[str, Any]) -> str:
    """The name of the arm that a model of ``framework``, started from ``init``, trained with
    ``hyper`` belongs to.

    Raises:
        ValueError: no arm trains so.
    """
    init = LEGACY_INITS.get(init, init)
    placement = str(hyper.get("adam_epsilon", "framework"))
    if framework == "keras" and placement == "keras":
        placement = "framework"  # Keras' own place
    for arm in ARMS.values():
        if (arm.framework, arm.init, arm.adam_epsilon) == (framework, init, placement):
            return arm.name
    raise ValueError(f"no ablation arm trains {framework} from {init!r} with epsilon {placement!r}")


def arm_hyper(hyper: Mapping[str, Any], arm: str, epochs: int | None) -> dict[str, Any]:
    """The hyperparameters of ``arm``: the model's, with the ablation's epochs (``None``:
    the model's) and the arm's epsilon placement (a key only where it differs)."""
    out = dict(hyper)
    if epochs is not None:
        out["epochs"] = int(epochs)
    if ARMS[arm].adam_epsilon != "framework":
        out["adam_epsilon"] = ARMS[arm].adam_epsilon
    return out


def applies(arm: str, hyper: Mapping[str, Any]) -> bool:
    """Whether ``arm`` means anything for a model trained with ``hyper`` (the epsilon arm
    needs Adam)."""
    return ARMS[arm].adam_epsilon == "framework" or hyper["optimizer"] == "adam"
