"""The matched-initialisation ablation: the PyTorch-Keras accuracy gap with each framework's
own initialisers, and with Keras started from PyTorch's initial weights."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from convstudy.records import TrainingRecord
from convstudy.report.tables import summarise

#: The columns of one cell: final validation accuracy per (framework, initialisation).
ARMS = {"torch": "torch", "keras_own": "keras", "keras_matched": "keras"}


def ablation_rows(
    torch: Iterable[str | Path],
    keras_own: Iterable[str | Path],
    keras_matched: Iterable[str | Path],
) -> pd.DataFrame:
    """One row per (model, seed): the final validation accuracy of each arm and the gaps
    (PyTorch minus Keras) without and with matched initialisation."""
    rows: dict[tuple[str, int], dict[str, object]] = {}
    for arm, folders in (
        ("torch", torch),
        ("keras_own", keras_own),
        ("keras_matched", keras_matched),
    ):
        for folder in folders:
            record = TrainingRecord.load(folder)
            if record.framework != ARMS[arm] or (arm == "keras_matched") != (
                record.init == "matched"
            ):
                raise ValueError(
                    f"{folder}: a {record.framework}/{record.init} model, expected {arm}"
                )
            row = rows.setdefault(
                (record.model, record.seed), {"model": record.model, "seed": record.seed}
            )
            row[arm] = record.final_val_acc
    frame = pd.DataFrame(list(rows.values()))
    frame["gap_own"] = frame["torch"] - frame["keras_own"]
    frame["gap_matched"] = frame["torch"] - frame["keras_matched"]
    return frame.assign(status="ok", reason="")


def ablation_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per model."""
    metrics = {name: ".4f" for name in (*ARMS, "gap_own", "gap_matched")}
    return summarise(rows, ["model"], metrics).drop(columns="note")
