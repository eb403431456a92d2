"""Rule ``embedding``: the word embedding of the run's text attacks, resolved once.

Fetches and checks the configured embedding (:mod:`convstudy.attacks.embedding`), or
counter-fits GloVe-50d with the published constraints, or records the fallback and why,
and writes the result as JSON for every genetic attack job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.attacks.embedding import Embedding, resolve

logger = logging.getLogger(__name__)


def run(
    *, settings: Mapping[str, Any], local_dir: str | None, raw_dir: str | Path, out: str | Path
) -> Embedding:
    used = resolve(settings, local_dir, raw_dir)
    logger.info(
        "embedding: %s (%s, counter-fitted: %s)%s", used.name, used.source, used.counter_fitted,
        f"; {used.requested} not used: {used.fallback_reason}" if used.fallback_reason else "",
    )  # fmt: skip
    if used.derivation:
        logger.info("made here: %s", used.derivation)
    used.dump(out)
    return used
