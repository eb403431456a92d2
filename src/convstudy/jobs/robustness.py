"""Rule ``robustness``: an adversarial set on a converted model against the original (RQ3).
Needs numpy only.

S_o and S_c are the attack's success rates (share of the selected inputs whose label is
no longer the true one) on the original and on the converted model. The record keeps the
per-input outcomes behind them as counts (:class:`convstudy.stats.Paired`), from which the
report draws intervals and McNemar's test; for an attack with perturbation bounds (the
Boundary attack: ``epsilon_linf``, ``epsilon_l2``) also the success within each bound.
Also: the label disagreement between the two models on the adversarial and on the clean
inputs (the latter 0 by construction for a converted model that took part in choosing
the inputs: ``selected``), and the mean absolute output error on the adversarial set
(logits, and softmax probabilities).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import attacks, metrics
from convstudy.records import AttackRecord, RobustnessRecord
from convstudy.stats import Paired


def bound_label(settings: Mapping[str, Any]) -> str:
    """What bounds an attack's examples as it ran, from its settings."""
    if settings.get("epsilon") is not None:  # FGSM's step
        return f"L∞ ≤ {settings['epsilon']:g}"
    if settings.get("max_modification") is not None:  # the genetic attack's word budget
        return f"≤ {settings['max_modification']:.0%} of words"
    return "none"


def outcomes(
    data: Mapping[str, np.ndarray], success_original: np.ndarray,
    success_converted: np.ndarray, settings: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The paired outcomes as the attack ran (``any``) and within each of its bounds."""
    paired: dict[str, tuple[dict[str, Any], Paired]] = {
        "any": (
            {"bound": bound_label(settings), "epsilon": None},
            Paired.of(success_original, success_converted),
        )
    }
    bound = attacks.bounds(settings)
    inside = attacks.within(data["clean"], data["x"], bound) if bound else {}
    for norm, mask in inside.items():
        label = {"linf": "L∞", "l2": "L2"}[norm]
        paired[norm] = (
            {"bound": f"{label} ≤ {bound[norm]:g}", "epsilon": bound[norm]},
            Paired.of(success_original & mask, success_converted & mask),
        )
    return {key: {**facts, **dataclasses.asdict(counts)} for key, (facts, counts) in paired.items()}


def run(
    *, attack_record: str | Path, adversarial: str | Path, original: str | Path,
    converted: str | Path, route: str, out: str | Path,
) -> RobustnessRecord:  # fmt: skip
    """Compare the converted model's replay with the original's; write the record."""
    attacked = AttackRecord.load(attack_record)
    record = RobustnessRecord(
        model=attacked.model, framework=attacked.framework, seed=attacked.seed,
        attack=attacked.attack, format=route, n=attacked.n, degenerate=attacked.degenerate,
        selected=route in attacked.selected_by, provenance=attacked.provenance,
    )  # fmt: skip
    statuses = {
        name: attacks.replay_status(path)
        for name, path in (("original", original), ("converted", converted))
    }
    if attacked.status != "ok":
        record.skip(f"attack not run: {attacked.reason}")
    elif statuses["original"][0] != "ok":
        record.skip(f"original not run: {statuses['original'][1]}")
    elif statuses["converted"][0] == "error":
        record.status, record.reason = "error", statuses["converted"][1]
    elif statuses["converted"][0] != "ok":
        record.skip(statuses["converted"][1])
    else:
        data = attacks.load(adversarial)
        labels = data["labels"]
        with np.load(original) as o, np.load(converted) as c:
            adv_o, adv_c, clean_o, clean_c = o["x"], c["x"], o["clean"], c["clean"]
        success_o = metrics.labels(adv_o) != labels
        success_c = metrics.labels(adv_c) != labels
        record.success_original = float(np.mean(success_o))
        record.success_converted = float(np.mean(success_c))
        record.outcomes = outcomes(data, success_o, success_c, attacked.settings)
        record.disagreement_adversarial = metrics.disagreement(adv_o, adv_c)
        record.disagreement_clean = metrics.disagreement(clean_o, clean_c)
        errors = metrics.compare_outputs(adv_o, adv_c)
        record.abs_error_adversarial_logit = errors["abs_error_logit"]
        record.abs_error_adversarial_prob = errors["abs_error_prob"]
        record.nonfinite_samples = int(errors["nonfinite_samples"])
    record.dump(out)
    return record
