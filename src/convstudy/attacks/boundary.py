"""The Boundary attack (Brendel et al., 2018) with foolbox 3: decision-based, it needs only
the model's labels. It starts from an input of another class and walks along the decision
boundary towards the clean input, minimising the L2 perturbation.

Starting points: foolbox's default search (blended uniform noise) fails on some inputs
when a weak model's noise images all fall in the same class; instead each input starts
from the nearest (L2) image of the given pool that the model labels differently, blended
towards the input by a binary search (deterministic, and it cannot fail while the model
predicts at least two classes).

With no bound on the perturbation, every input that starts ends adversarial on the
attacked model: the attack's success there is 1 by construction. What it measures is the
distance it reached; the examples count as a bounded success within ``epsilon_linf`` or
``epsilon_l2`` (see :func:`convstudy.attacks.bounds`), and the distances at chosen steps
are recorded during the run (:mod:`convstudy.attacks.trace`).

Step sizes: the starting points lie on the decision boundary (the binary search stops
within 2^-10 of it), where foolbox's initial ``source_step`` of 0.01 (1 % of the distance
per step) crosses back almost every time; foolbox adapts the step only from its success
statistics, first after 300 steps and then at most once per 300 steps (its queue of 30
entries, filled every 10th step, is cleared at each change), so with 0.01 the default-
scale models' examples did not move at all in the first 300 (ResNet-18) to 1300 (LeNet-5)
steps. The default config starts at 0.001. foolbox 3.3.4's own default is 25,000 steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from convstudy.attacks import IMAGE_BOUNDS, Adversarial, bounds
from convstudy.attacks.trace import Trace, summary
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec


def starting_points(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    pool_labels: np.ndarray,
    steps: int = 10,
) -> tuple[np.ndarray, int]:
    """Per input, the nearest pool image of another label, blended towards the input as
    far as it stays misclassified; and the model rows the search used. Model layout.

    Raises:
        ValueError: for some input the model labels every pool image as its class (a
            degenerate model); callers drop such inputs first (see :func:`has_start`).
    """
    flat_x, flat_p = x.reshape(len(x), -1), pool.reshape(len(pool), -1)
    distance = (flat_x**2).sum(1)[:, None] + (flat_p**2).sum(1)[None, :] - 2 * flat_x @ flat_p.T
    distance[pool_labels[None, :] == y[:, None]] = np.inf
    if np.isinf(distance.min(axis=1)).any():
        raise ValueError("the model labels every pool image as the input's class")
    target = pool[distance.argmin(axis=1)]
    lo, hi = np.zeros(len(x), np.float32), np.ones(len(x), np.float32)
    shape = (-1,) + (1,) * (x.ndim - 1)
    for _ in range(steps):
        mid = (lo + hi) / 2
        blend = (1 - mid.reshape(shape)) * x + mid.reshape(shape) * target
        flipped = predict(blend.astype(np.float32)).argmax(axis=1) != y
        hi, lo = np.where(flipped, mid, hi), np.where(flipped, lo, mid)
    start = (1 - hi.reshape(shape)) * x + hi.reshape(shape) * target
    return start.astype(np.float32), steps * len(x)


def attack(
    model: Any,
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int,
    pool: tuple[np.ndarray, np.ndarray] | None = None,
) -> Adversarial:
    """The Boundary attack on a framework model, through its foolbox model.

    ``settings``: ``steps``, ``spherical_step``, ``source_step``; optional
    ``checkpoints`` (steps at which the distances reached are recorded, see
    :mod:`convstudy.attacks.trace`), ``epsilon_linf`` and ``epsilon_l2`` (the bounds
    within which an example counts as a bounded success). ``pool``:
    framework-neutral images and the model's labels for them, from which the starting
    points are drawn (the evaluation images outside the attacked set).
    """
    fw = adapter(spec.format)
    fw.seed(seed)
    return _run(
        fw.foolbox_model(model, IMAGE_BOUNDS), fw.tensor, fw.predictor(model), spec, x, y,
        settings=settings, seed=seed, pool=pool,
    )  # fmt: skip


def attack_predictor(
    predict: Callable[[np.ndarray], np.ndarray],
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int,
    pool: tuple[np.ndarray, np.ndarray],
) -> Adversarial:
    """The Boundary attack on any runtime's prediction function (a converted model in
    its own runtime), through ``fb.NumPyModel``: the attack needs only labels."""
    import foolbox as fb

    fmodel = fb.models.NumPyModel(
        lambda batch: predict(np.asarray(batch, dtype=np.float32)), bounds=IMAGE_BOUNDS
    )
    return _run(fmodel, np.asarray, predict, spec, x, y, settings=settings, seed=seed, pool=pool)


def _run(
    fmodel: Any,
    tensor: Callable[[np.ndarray], Any],
    predict: Callable[[np.ndarray], np.ndarray],
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int,
    pool: tuple[np.ndarray, np.ndarray] | None,
) -> Adversarial:
    import foolbox as fb

    if pool is None:
        raise ValueError("the Boundary attack needs a pool of images for its starting points")
    np.random.seed(seed)
    inputs = spec.layout.prepare(x)
    # an input can start only if the model labels some pool image otherwise (a model
    # that predicts one class everywhere leaves none): the others fail, counted
    startable = np.array([bool(np.any(pool[1] != label)) for label in y], dtype=bool)
    adversarial = inputs.copy()
    queries, rows = 0, 0
    steps = int(settings["steps"])
    trace = Trace(inputs[startable], checkpoints(settings))
    if startable.any():
        start, queries = starting_points(
            predict, inputs[startable], y[startable], spec.layout.prepare(pool[0]), pool[1]
        )
        trace.start(start)
        counter = _counting(fmodel, trace.query)
        attack = fb.attacks.BoundaryAttack(
            steps=steps,
            spherical_step=settings["spherical_step"],
            source_step=settings["source_step"],
        )
        with trace.observing():
            raw, _, _ = attack(
                counter,
                tensor(inputs[startable]),
                tensor(y[startable].astype(np.int64)),
                epsilons=None,
                starting_points=tensor(start),
            )
        adversarial[startable] = np.asarray(raw.numpy() if hasattr(raw, "numpy") else raw)
        trace.verify(adversarial[startable])
        rows = counter.rows
    success = predict(adversarial).argmax(axis=1) != y
    facts: dict[str, Any] = {
        "steps": steps,
        "bounds": list(IMAGE_BOUNDS),
        "init": "nearest other-label pool image",
        "no_starting_point": int((~startable).sum()),
    }
    if trace.checkpoints:
        facts["trajectory"] = summary(trace.checkpoints, len(x), bounds(settings))
    return Adversarial(spec.layout.to_neutral(adversarial), success, queries + rows, facts)


def checkpoints(settings: Mapping[str, Any]) -> list[int]:
    """The steps at which the trajectory is recorded: those of ``settings["checkpoints"]``
    below ``settings["steps"]``, and the last step."""
    steps = int(settings["steps"])
    return sorted({*(int(s) for s in settings.get("checkpoints", ()) if 0 < s < steps), steps})


def _counting(inner: Any, observe: Callable[[Any], None]) -> Any:
    """A foolbox model that counts the rows passing through it (the attack's queries) and
    shows each batch to ``observe``."""
    import foolbox as fb

    class Counting(fb.models.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            self.rows = 0

        @property
        def bounds(self) -> Any:
            return inner.bounds

        def __call__(self, inputs: Any) -> Any:
            self.rows += int(inputs.shape[0])
            observe(inputs)
            return inner(inputs)

    return Counting()
