"""Checkpoint ``localization_pairs``: which converted models the workflow localizes.

Reads the comparison of every route (RQ1's routes and the conversion matrix's paths) with
its cell's original model and keeps the pairs whose label disagreement or scale-aware
output error exceeds the config's ``localization.trigger``. A comparison that did not run
(a failed conversion, a CoreML model on Linux) has no numbers and triggers nothing: the
conversion's own record already says what happened. Needs no framework.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convstudy.metrics import exceeded
from convstudy.provenance import write_json
from convstudy.records import ComparisonRecord

logger = logging.getLogger(__name__)


def run(
    *,
    comparisons: Sequence[str | Path],
    trigger: Mapping[str, float],
    out: str | Path,
) -> list[dict[str, Any]]:
    """Write ``out`` (JSON): one entry per faulty pair, in the order of ``comparisons``."""
    pairs: list[dict[str, Any]] = []
    for path in comparisons:
        record = ComparisonRecord.load(path)
        if record.status != "ok":
            continue
        why = exceeded(record.metrics, trigger)
        if why:
            pairs.append(
                {
                    "model": record.model,
                    "framework": record.framework,
                    "seed": record.seed,
                    "route": record.format,
                    "why": "; ".join(why),
                }
            )
    logger.info("%d of %d compared routes exceed the trigger", len(pairs), len(comparisons))
    write_json(out, {"trigger": dict(trigger), "pairs": pairs})
    return pairs
