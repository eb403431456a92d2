"""The localization report: one row per faulty pair the workflow localized and repaired,
from the gathered ``localizations`` table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: The table's file stem and title.
TABLE = "localizations"
TITLE = (
    "Fault localisation and repair: every converted model whose comparison with its "
    "original exceeded the trigger"
)
#: Columns of the report, in order (those missing from the gathered table are left out).
COLUMNS = [
    "model",
    "framework",
    "seed",
    "target_route",
    "status",
    "first_hop",
    "stage",
    "op_type",
    "source_node",
    "target_node",
    "metric",
    "value",
    "disagreement_scanned",
    "disagreement_before",
    "disagreement_after",
    "error_before",
    "error_after",
    "repair_actions",
    "repair_success",
    "reason",
]
EMPTY = "no converted model exceeded localization.trigger"


def localization_table(localizations: pd.DataFrame) -> pd.DataFrame:
    """The report's table; a single explanatory row when nothing was localized."""
    if localizations.empty:
        return pd.DataFrame({"note": [EMPTY]})
    table = localizations[[c for c in COLUMNS if c in localizations]].copy()
    if "reason" in table:
        table["reason"] = table["reason"].fillna("").astype(str).str.slice(0, 160)
    return table


def write_localization_report(localizations_csv: str | Path, out_dir: str | Path) -> None:
    """Write the table (CSV, Markdown, HTML) into ``out_dir``."""
    from convstudy.report import _read, write_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(localization_table(_read(localizations_csv)), out_dir, TABLE, TITLE)
