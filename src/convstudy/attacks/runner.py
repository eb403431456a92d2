"""One attack on one cell's model, on the cell's selection (RQ3): the ``attack`` job's work,
also run by :mod:`convstudy.attack_scaling` on a finished run's models.

Writes the adversarial set (framework-neutral inputs, see :mod:`convstudy.attacks`) and a
record: success rate on the original, median L2 and L-infinity perturbation ([0, 1]
pixel units; words changed for text), model queries and wall time per input.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from convstudy import attacks, formats, frameworks, registry
from convstudy.attacks.embedding import Embedding
from convstudy.conversion import upstream_failure
from convstudy.data import load_prepared, subset
from convstudy.provenance import Provenance
from convstudy.records import AttackRecord
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)


def attack_cell(
    *,
    model: str,
    framework: str,
    seed: int,
    attack: str,
    trained: str | Path,
    selection: str | Path,
    model_outputs: str | Path,
    data_path: str | Path,
    n_test: int,
    settings: Mapping[str, Any],
    threads: int,
    adversarial_out: str | Path,
    record_out: str | Path,
    target: str | Path | None = None,
    route: str = registry.ORIGINAL,
    embedding: str | Path | None = None,
) -> AttackRecord:
    """Attack the trained model of folder ``trained`` on the selected inputs; or, with
    ``target`` (a converted model's folder, ``route`` its name), that converted model
    directly in its own runtime (attacks that need only outputs: ``attack_predictor``).
    ``embedding``: the run's resolved word embedding (rule ``embedding``), for the attacks
    that read one."""
    chosen = json.loads(Path(selection).read_text())
    indices = np.asarray(chosen["indices"], dtype=np.int64)
    record = AttackRecord(
        model=model, framework=framework, seed=seed, attack=attack, target=route, n=len(indices),
        selected_by=chosen["selected_by"], not_selecting=chosen["not_selecting"],
        original_accuracy=chosen["original_accuracy"], degenerate=chosen["degenerate"],
        settings=dict(settings),
        provenance=Provenance.of_job(threads=threads, params={"attack": attack, **settings}),
    )  # fmt: skip
    arrays = subset(load_prepared(data_path, ("test",)), None, None, n_test)
    x, y = arrays["x_test"][indices], arrays["y_test"][indices].astype(np.int64)
    limit_threads(threads, framework)
    module = cast(attacks.AttackModule, registry.module(registry.attack(attack).module))
    extra: dict[str, Any] = {}
    if target is None:
        spec = ModelSpec.load(trained)
        net: Any = frameworks.load(Path(trained), spec)
        run_attack = module.attack
    else:
        failed = upstream_failure(Path(target))
        spec = ModelSpec.load(target) if not failed else ModelSpec.load(trained)
        try:
            if failed:
                raise formats.NotRunnable(f"not converted: {failed}")
            net = formats.load(Path(target), threads=threads, spec=spec)
        except formats.NotRunnable as why:
            record.skip(str(why))
            attacks.save(adversarial_out, clean=x, labels=y, indices=indices,
                         result=attacks.Adversarial(x, np.zeros(len(x), bool), 0))  # fmt: skip
            record.dump(record_out)
            return record
        direct = getattr(module, "attack_predictor", None)
        if direct is None:
            raise ValueError(f"attack {attack!r} cannot attack a converted model directly")
        run_attack = direct
    if "pool" in inspect.signature(run_attack).parameters:  # Boundary's starting points
        rest = np.setdiff1d(np.arange(len(arrays["y_test"])), indices)
        with np.load(model_outputs) as attacked:  # the attacked model's own labels
            extra["pool"] = (arrays["x_test"][rest], attacked["outputs"][rest].argmax(axis=1))
    if embedding is not None:
        settings = {**settings, "resolved_embedding": Embedding.load(embedding)}
    tic = time.perf_counter()
    result = (
        run_attack(net, spec, x, y, settings=settings, seed=seed, **extra)
        if len(x)
        else attacks.Adversarial(x, np.zeros(0, bool), 0)
    )
    seconds = time.perf_counter() - tic
    attacks.save(adversarial_out, clean=x, labels=y, result=result, indices=indices)
    if not len(x):
        record.skip("no input is classified correctly by every model of the cell")
    else:
        record.success_rate = float(result.success.mean())
        if x.ndim == 4:
            l2, linf = attacks.perturbation(x, result.x)
            if result.success.any():
                record.median_l2 = float(np.median(l2[result.success]))
                record.median_linf = float(np.median(linf[result.success]))
        record.queries_per_input = result.queries / len(x)
        record.seconds = seconds
        record.seconds_per_input = seconds / len(x)
        record.facts = result.facts
        logger.info(
            "%s on %s/%s seed %d: %d inputs, success %.3f, %.3f s and %.0f queries per input",
            attack, model, framework, seed, len(x), record.success_rate,
            record.seconds_per_input, record.queries_per_input,
        )  # fmt: skip
    record.dump(record_out)
    return record
