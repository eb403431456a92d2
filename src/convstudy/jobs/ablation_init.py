"""Rule ``ablation_init``: the initialisation ablation's tables and figure, from the
training records of its arms. Needs pandas, scipy and matplotlib only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from convstudy.atomic import atomic_output
from convstudy.report import ABLATION_FIGURE, ABLATION_TABLES, write_table
from convstudy.report.ablation import arm_table, cell_rows, epoch_rows, figure, gap_table

ARMS_TABLE, GAPS_TABLE = ABLATION_TABLES
TITLES = {
    ARMS_TABLE: (
        "Initialisation ablation: validation accuracy of each arm at its peak epoch and at "
        "the last epoch (mean [95% t-interval] over seeds), the peak's epoch (median, range) "
        "and the seeds whose peak is the last epoch"
    ),
    GAPS_TABLE: (
        "Initialisation ablation: PyTorch - Keras gaps and the effects of each intervention "
        "at the peak and at the last epoch (mean and 95% t-interval over seeds of the "
        "per-seed differences), and what each interval supports"
    ),
}


def run(*, models: Sequence[str | Path], out_dir: str | Path) -> None:
    """Write ``ablation_init.{csv,md,html}`` (per arm), ``ablation_init_gaps.{csv,md,html}``,
    ``ablation_init_cells.csv`` (per arm and seed), ``ablation_init_epochs.csv`` (per
    epoch) and the figure ``ablation_init_curves.{png,svg}`` into ``out_dir``."""
    out_dir = Path(out_dir)
    epochs = epoch_rows(models)
    cells = cell_rows(epochs)
    with atomic_output(out_dir / f"{ARMS_TABLE}_epochs.csv") as tmp:
        epochs.to_csv(tmp, index=False)
    with atomic_output(out_dir / f"{ARMS_TABLE}_cells.csv") as tmp:
        cells.to_csv(tmp, index=False)
    write_table(arm_table(cells), out_dir, ARMS_TABLE, TITLES[ARMS_TABLE])
    write_table(gap_table(cells), out_dir, GAPS_TABLE, TITLES[GAPS_TABLE])
    figure(epochs, out_dir / f"{ABLATION_FIGURE}.png", out_dir / f"{ABLATION_FIGURE}.svg")
