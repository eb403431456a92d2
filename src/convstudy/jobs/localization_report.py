"""Rule ``localization_report``: the table of the workflow's localizations and repairs."""

from __future__ import annotations

from pathlib import Path

from convstudy.report.localization import write_localization_report


def run(*, localizations: str | Path, out_dir: str | Path) -> None:
    """Write the localization report into ``out_dir`` from the gathered table."""
    write_localization_report(localizations, out_dir)
