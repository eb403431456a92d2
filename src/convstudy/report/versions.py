"""Converter releases side by side (config ``versions``): every compared hop converted by
each listed release, beside the pinned release's conversion of the same hop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convstudy.records import ComparisonRecord, ConversionRecord

#: The table's file stem and title.
TABLE = "converter_versions"
TITLE = (
    "Converter releases side by side: each hop converted by each listed release, against the "
    "original model and against the pinned release's conversion"
)
_METRICS = ("disagreement", "rel_error_norm_logit", "max_abs_error_logit")


def _metrics(record: ComparisonRecord, prefix: str) -> dict[str, Any]:
    return {f"{prefix}{name}": record.metrics.get(name) for name in _METRICS}


def version_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One row: ``entry`` names the package, the release, and the files of the release's
    hop (``conversion``, ``vs_original``, ``vs_pinned``) and of the pinned release's
    (``pinned_conversion``, ``pinned_vs_original``)."""
    conversion = ConversionRecord.load(entry["conversion"])
    pinned = ConversionRecord.load(entry["pinned_conversion"])
    vs_original = ComparisonRecord.load(entry["vs_original"])
    vs_pinned = ComparisonRecord.load(entry["vs_pinned"])
    pinned_vs_original = ComparisonRecord.load(entry["pinned_vs_original"])
    package = entry["package"]
    status = conversion.status if conversion.status != "ok" else vs_original.status
    reason = conversion.reason or vs_original.reason
    return {
        "package": package,
        "version": entry["version"],
        "pinned_version": pinned.converter_versions.get(package, ""),
        "model": conversion.model,
        "framework": conversion.framework,
        "seed": conversion.seed,
        "route": conversion.route,
        "status": status,
        "pinned_status": pinned.status if pinned.status != "ok" else pinned_vs_original.status,
        "opset": conversion.facts.get("opset"),
        "pinned_opset": pinned.facts.get("opset"),
        "size_bytes": conversion.size_bytes,
        "pinned_size_bytes": pinned.size_bytes,
        "seconds": conversion.seconds,
        "pinned_seconds": pinned.seconds,
        **_metrics(vs_original, ""),
        **_metrics(pinned_vs_original, "pinned_"),
        **_metrics(vs_pinned, "vs_pinned_"),
        "reason": reason[:160],
    }


def versions_table(entries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The table of every (release, hop) of ``entries``."""
    return pd.DataFrame([version_row(entry) for entry in entries])


def write_versions_report(entries: Sequence[Mapping[str, Any]], out_dir: str | Path) -> None:
    """Write the table (CSV, Markdown, HTML) into ``out_dir``."""
    from convstudy.report import write_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(versions_table(entries), out_dir, TABLE, TITLE)
