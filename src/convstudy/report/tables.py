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


#: Table II's error columns: the published space (probabilities) first, then logits.
TABLE2_ERRORS = (
    "abs_error_prob",
    "rel_error_published_prob",
    "rel_error_norm_prob",
    "abs_error_logit",
    "max_abs_error_logit",
    "rel_error_published_logit",
    "rel_error_norm_logit",
)


def table2_errors(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Output errors (on softmax probabilities and on logits), label disagreement and the
    number of samples with a non-finite output, per conversion."""
    return summarise(
        comparisons,
        KEYS + ["format"],
        {
            **{name: ".2e" for name in TABLE2_ERRORS},
            "disagreement": ".4f",
            "nonfinite_samples": ".0f",
        },
    )


def table3_time(predictions: pd.DataFrame) -> pd.DataFrame:
    """Load time and inference time over the evaluation set (median and IQR of the
    repeats), seconds."""
    table = summarise(
        predictions,
        KEYS + ["target"],
        {
            "load_median": ".3f",
            "load_iqr": ".3f",
            "inference_median": ".3f",
            "inference_iqr": ".3f",
        },
    )
    table.insert(
        len(KEYS) + 1,
        "n_eval",
        predictions.groupby(KEYS + ["target"], sort=False)["n_eval"].first().values,
    )
    return table


def table4_size(predictions: pd.DataFrame) -> pd.DataFrame:
    """Size on disk (MB) of the original and converted models: the file as saved, and its
    stored weights only (``<format> weights``)."""
    frame = predictions.assign(
        size_mb=predictions["size_bytes"] / 1e6,
        weights_mb=predictions.get("weights_bytes", pd.Series(index=predictions.index)) / 1e6,
        column=predictions["target"].map(target_column),
        status="ok",
    )
    table = summarise(frame, KEYS + ["column"], {"size_mb": ".3f", "weights_mb": ".3f"})
    files = _wide(table, "size_mb")
    weights = _wide(table, "weights_mb").set_index(KEYS).add_suffix(" weights").reset_index()
    return files.merge(weights, on=KEYS, sort=False)
