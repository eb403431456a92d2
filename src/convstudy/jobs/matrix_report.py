"""Rule ``matrix_report``: the conversion matrix's tables and heatmap."""

from __future__ import annotations

from pathlib import Path

from convstudy.report.matrix import write_matrix_report


def run(*, matrix: str | Path, out_dir: str | Path) -> None:
    """Write the matrix report into ``out_dir`` from the gathered ``matrix`` table."""
    write_matrix_report(matrix, out_dir)
