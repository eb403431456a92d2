"""Rule ``ablation_init``: the matched-initialisation ablation's table, from the training
records of its cells. Needs pandas only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from convstudy.atomic import atomic_output
from convstudy.report import write_table
from convstudy.report.ablation import ablation_rows, ablation_table

TITLE = (
    "Matched initialisation: final validation accuracy and the PyTorch - Keras gap, with "
    "each framework's own initialisers and with Keras started from PyTorch's initial weights "
    "(mean ± std over seeds)"
)


def run(
    *,
    torch: Sequence[str | Path],
    keras_own: Sequence[str | Path],
    keras_matched: Sequence[str | Path],
    out_csv: str | Path,
) -> None:
    """Write ``ablation_init.{csv,md}`` (per model) and ``ablation_init_cells.csv``."""
    out_csv = Path(out_csv)
    rows = ablation_rows(torch, keras_own, keras_matched)
    with atomic_output(out_csv.with_name(out_csv.stem + "_cells.csv")) as tmp:
        rows.to_csv(tmp, index=False)
    write_table(ablation_table(rows), out_csv.parent, out_csv.stem, TITLE)
