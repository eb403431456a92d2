"""Rule ``sources_report``: the conversion matrix of the models the user brought."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from convstudy.records import MatrixRecord
from convstudy.report import write_table
from convstudy.report.matrix import matrix_hops, matrix_paths

TABLE = "matrix_sources"
TITLE = "Conversion matrix of the brought models: every path's final model against the source"


def run(*, paths: Sequence[str | Path], out_dir: str | Path, sources: Sequence[str] = ()) -> None:
    """Write the path table (and the hop table, Markdown) of the brought models.

    ``sources`` (``name: path`` of each brought model) are named in the title: the table
    says which configuration it reports. A source the import refused has its paths'
    rows, not_run with the reason.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([row for path in paths for row in MatrixRecord.load(path).rows()])
    title = TITLE + (f" (sources: {'; '.join(sources)})" if sources else "")
    write_table(matrix_paths(frame), out_dir, TABLE, title)
    hops = matrix_hops(frame)
    (out_dir / f"{TABLE}_hops.md").write_text(
        "**Brought models: every hop**\n\n" + hops.to_markdown(index=False) + "\n"
    )
