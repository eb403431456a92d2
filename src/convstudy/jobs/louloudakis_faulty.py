"""Checkpoint ``louloudakis_faulty``: the pairs of Louloudakis et al.'s grid to localize.

A pair is faulty when its target's outputs differ from its source's beyond the config's
``localization.trigger`` (label disagreement or scale-aware output error); the case study's
pairs (``louloudakis.case``) are localized in any case. A pair whose conversion failed has
no outputs to localize: its comparison says why. Needs no framework.
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
    always: Sequence[Mapping[str, Any]],
    out: str | Path,
) -> list[dict[str, Any]]:
    """Write ``out`` (JSON): one entry per pair to localize (model, framework, seed, base,
    route, and why)."""
    forced = {
        tuple(str(p[k]) for k in ("model", "framework", "seed", "base", "route")) for p in always
    }
    pairs: list[dict[str, Any]] = []
    for path in comparisons:
        record = ComparisonRecord.load(path)
        base, route = Path(path).parent.name, Path(path).stem
        key = (record.model, record.framework, str(record.seed), base, route)
        if record.status != "ok":
            continue
        why = exceeded(record.metrics, trigger)
        if why or key in forced:
            pairs.append(
                dict(zip(("model", "framework", "seed", "base", "route"), key, strict=True))
                | {"why": "; ".join(why) or "the case study"}
            )
    logger.info("%d of %d pairs to localize", len(pairs), len(comparisons))
    write_json(out, {"pairs": pairs})
    return pairs
