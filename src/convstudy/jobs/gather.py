"""Rule ``gather``: one table from the records of one kind."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from convstudy.atomic import atomic_output
from convstudy.gather import gather_table

logger = logging.getLogger(__name__)


def run(
    *,
    table: str,
    records: Sequence[str | Path],
    datasets: Sequence[str | Path],
    study_config_hash: str,
    out: str | Path,
) -> None:
    """Write ``out`` (CSV): a row per record of ``table``'s kind (or per epoch, tensor)."""
    frame = gather_table(table, records, datasets, study_config_hash)
    with atomic_output(out) as tmp:
        frame.to_csv(tmp, index=False)
    logger.info("%s: %d rows from %d records -> %s", table, len(frame), len(records), out)
