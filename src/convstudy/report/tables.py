"""Tables I-IV of the study from the gathered tables (mean and std over seeds).

Cells that did not run (the CoreML runtime off macOS, a failed conversion) are shown as
such, with the reason, never left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from convstudy import registry

KEYS = ["model", "framework"]
NOT_RUN = "not run"


def _mean_std(values: pd.Series, digits: str) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return NOT_RUN
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():{digits}} ± {std:{digits}}"


def summarise(frame: pd.DataFrame, by: Sequence[str], metrics: dict[str, str]) -> pd.DataFrame:
    """Mean ± std over seeds of each metric (format spec as value), per group; plus n seeds.

    A ``note`` column joins the distinct reasons of the group's rows that are not ``ok``.
    """
    rows = []
    for key, group in frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["seeds"] = group["seed"].nunique()
        for metric, digits in metrics.items():
            row[metric] = _mean_std(
                group[metric] if metric in group else pd.Series(dtype=float), digits
            )
        if "status" in group:
            reasons = group.loc[group["status"] != "ok", "reason"].dropna().unique()
            row["note"] = "; ".join(reasons)
        rows.append(row)
    return pd.DataFrame(rows)


def target_column(target: str) -> str:
    """The column a prediction target is shown under: ``original`` or its route's format."""
    return target if target == registry.ORIGINAL else registry.route_formats(target)[-1]


def _ordered(columns: Sequence[str]) -> list[str]:
    order = [registry.ORIGINAL, *registry.FORMATS]
    return sorted(columns, key=order.index)


def _wide(table: pd.DataFrame, value: str) -> pd.DataFrame:
    wide = table.pivot(index=KEYS, columns="column", values=value)
    return wide[_ordered(list(wide.columns))].reset_index().rename_axis(columns=None)


def table1_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of the original and of each converted model."""
    frame = predictions.assign(column=predictions["target"].map(target_column))
    return _wide(summarise(frame, KEYS + ["column"], {"accuracy": ".4f"}), "accuracy")


def table2_errors(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Output errors and label disagreement of each conversion."""
    return summarise(
        comparisons,
        KEYS + ["format"],
        {
            "abs_error": ".2e",
            "max_abs_error": ".2e",
            "rel_error_published": ".2e",
            "rel_error_eps": ".2e",
            "norm_max_error": ".2e",
            "disagreement": ".4f",
        },
    )


def table3_time(predictions: pd.DataFrame) -> pd.DataFrame:
    """Load time and inference time over the evaluation set (median of repeats), seconds."""
    table = summarise(
        predictions,
        KEYS + ["target"],
        {"load_seconds": ".3f", "inference_median": ".3f", "inference_iqr": ".3f"},
    )
    table.insert(
        len(KEYS) + 1,
        "n_eval",
        predictions.groupby(KEYS + ["target"], sort=False)["n_eval"].first().values,
    )
    return table


def table4_size(predictions: pd.DataFrame) -> pd.DataFrame:
    """Size on disk (MB) of the original and converted models."""
    frame = predictions.assign(
        size_mb=predictions["size_bytes"] / 1e6,
        column=predictions["target"].map(target_column),
        status="ok",
    )
    return _wide(summarise(frame, KEYS + ["column"], {"size_mb": ".3f"}), "size_mb")
