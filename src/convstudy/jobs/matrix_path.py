"""Rule ``matrix_path``: one path of the conversion matrix, from its hops' records.

Reads the conversion record of every hop (kept in each hop's model folder) and the
comparison of every hop's model with the source model; needs no framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convstudy.records import ComparisonRecord, ConversionRecord, MatrixRecord


def run(
    *,
    path: str,
    conversions: Sequence[str | Path],
    comparisons: Sequence[str | Path],
    out: str | Path,
) -> MatrixRecord:
    """Join the hops of ``path`` (in order) into one record; write it to ``out``."""
    hops: list[dict[str, Any]] = []
    for number, (folder, comparison_file) in enumerate(
        zip(conversions, comparisons, strict=True), start=1
    ):
        conversion = ConversionRecord.load(folder)
        comparison = ComparisonRecord.load(comparison_file)
        hop = {
            "hop": number,
            "route": conversion.route,
            "source_format": conversion.source_format,
            "format": conversion.format,
            "converter": conversion.converter,
            "status": conversion.status,
            "reason": conversion.reason,
            "seconds": conversion.seconds,
            "size_bytes": conversion.size_bytes,
            "eval_status": comparison.status,
            "eval_reason": comparison.reason if conversion.status == "ok" else "",
            **comparison.metrics,
        }
        hops.append(hop)
    first = ConversionRecord.load(conversions[0])
    last = ComparisonRecord.load(comparisons[-1])
    record = MatrixRecord(
        model=first.model,
        framework=first.framework,
        seed=first.seed,
        provenance=last.provenance,
        path=path,
        target=hops[-1]["format"],
        n_eval=last.n_eval,
        hops=hops,
    )
    failed = next((hop for hop in hops if hop["status"] != "ok"), None)
    if failed:
        record.status, record.reason = failed["status"], f"hop {failed['hop']}: {failed['reason']}"
    elif last.status != "ok":
        record.status, record.reason = last.status, f"evaluation: {last.reason}"
    record.first_changed_hop = next(
        (hop["hop"] for hop in hops if hop.get("disagreement", 0.0) > 0.0), 0
    )
    record.dump(out)
    return record
