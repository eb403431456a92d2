"""Rule ``report``: the study's tables and figures from the gathered tables."""

from __future__ import annotations

from pathlib import Path

from convstudy.report import write_report


def run(*, tables: dict[str, str | Path], out_dir: str | Path, part: str = "main") -> None:
    """Write the report tables and figures of ``part`` into ``out_dir``."""
    write_report(tables, out_dir, part=part)
