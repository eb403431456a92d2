"""Rule ``robustness``: an adversarial set on a converted model against the original (RQ3).
Needs numpy only.

S_o and S_c are the attack's success rates (share of the selected inputs whose label is
no longer the true one) on the original and on the converted model; also the label
disagreement between the two on the adversarial and on the clean inputs, and the mean
absolute output error on the adversarial set (logits, and softmax probabilities).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convstudy import attacks, metrics
from convstudy.records import AttackRecord, RobustnessRecord


def run(
    *, attack_record: str | Path, adversarial: str | Path, original: str | Path,
    converted: str | Path, route: str, out: str | Path,
) -> RobustnessRecord:  # fmt: skip
    """Compare the converted model's replay with the original's; write the record."""
    attacked = AttackRecord.load(attack_record)
    record = RobustnessRecord(
        model=attacked.model, framework=attacked.framework, seed=attacked.seed,
        attack=attacked.attack, format=route, n=attacked.n, degenerate=attacked.degenerate,
        provenance=attacked.provenance,
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
        labels = attacks.load(adversarial)["labels"]
        with np.load(original) as o, np.load(converted) as c:
            adv_o, adv_c, clean_o, clean_c = o["x"], c["x"], o["clean"], c["clean"]
        record.success_original = float(np.mean(metrics.labels(adv_o) != labels))
        record.success_converted = float(np.mean(metrics.labels(adv_c) != labels))
        record.disagreement_adversarial = metrics.disagreement(adv_o, adv_c)
        record.disagreement_clean = metrics.disagreement(clean_o, clean_c)
        errors = metrics.compare_outputs(adv_o, adv_c)
        record.abs_error_adversarial_logit = errors["abs_error_logit"]
        record.abs_error_adversarial_prob = errors["abs_error_prob"]
        record.nonfinite_samples = int(errors["nonfinite_samples"])
    record.dump(out)
    return record
