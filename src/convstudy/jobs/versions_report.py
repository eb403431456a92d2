"""Rule ``versions_report``: the table of converter releases side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convstudy.report.versions import write_versions_report


def run(*, entries: Sequence[Mapping[str, Any]], out_dir: str | Path) -> None:
    """Write the releases table into ``out_dir`` (one entry per release and hop)."""
    write_versions_report(entries, out_dir)
