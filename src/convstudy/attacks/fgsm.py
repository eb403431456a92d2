"""FGSM (Goodfellow et al., 2015) with foolbox 3: one signed-gradient step of size epsilon
in L-infinity, clipped to the pixel bounds. Gradient-based: runs on the original model in
its own framework (``fb.PyTorchModel`` / ``fb.TensorFlowModel``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from convstudy.attacks import IMAGE_BOUNDS, Adversarial
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec


def attack(
    model: Any,
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int,
) -> Adversarial:
    """FGSM with ``settings["epsilon"]`` (L-infinity, in [0, 1] pixel units)."""
    import foolbox as fb

    fw = adapter(spec.format)
    fw.seed(seed)
    fmodel = fw.foolbox_model(model, IMAGE_BOUNDS)
    inputs = spec.layout.prepare(x)
    attack = fb.attacks.LinfFastGradientAttack(random_start=False)
    _, clipped, success = attack(
        fmodel, fw.tensor(inputs), fw.tensor(y.astype(np.int64)), epsilons=settings["epsilon"]
    )
    adversarial = spec.layout.to_neutral(np.asarray(clipped.numpy()))
    # one forward and one backward pass per input
    return Adversarial(
        adversarial, np.asarray(success.numpy()).astype(bool), 2 * len(x),
        {"epsilon": settings["epsilon"], "bounds": list(IMAGE_BOUNDS)},
    )  # fmt: skip
