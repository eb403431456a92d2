"""Tables I-IV of the study from the gathered tables (mean and std over seeds).

Cells that did not run (the CoreML runtime off macOS, a failed conversion) are shown as
such, with the reason, never left out.

A value over seeds is shown as "mean ± std" where two seeds or more ran, and as "value
(n = 1)" for one seed. A rate (accuracy, label disagreement) also gets the Wilson 95 %
interval of its inputs pooled over the seeds, in brackets (:mod:`convstudy.stats`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from convstudy import registry
from convstudy.stats import count, wilson

KEYS = ["model", "framework"]
NOT_RUN = "not run"
#: How a value of one seed is shown: a standard deviation of 0 would read as certainty.
ONE_SEED = "(n = 1)"


def mean_std(values: pd.Series, digits: str) -> str:
    """ "mean ± std" over seeds (two or more values), "value (n = 1)" for one value."""
    values = values.dropna().astype(float)
    if values.empty:
        return NOT_RUN
    if len(values) == 1:
        return f"{values.iloc[0]:{digits}} {ONE_SEED}"
    return f"{values.mean():{digits}} ± {values.std(ddof=1):{digits}}"


def interval(k: int, n: int) -> str:
    """The Wilson 95 % interval of ``k`` of ``n``, as "[low, high]"."""
    low, high = wilson(k, n)
    return f"[{low:.3f}, {high:.3f}]"


def rate(rates: pd.Series, sizes: pd.Series, digits: str) -> str:
    """A rate over seeds (each seed's rate of its ``sizes`` inputs): as :func:`mean_std`,
    then the Wilson interval of the inputs pooled over the seeds."""
    ran = rates.notna() & sizes.notna()
    if not ran.any():
        return NOT_RUN
    k = sum(count(r, int(n)) for r, n in zip(rates[ran], sizes[ran]))
    return f"{mean_std(rates[ran], digits)} {interval(k, int(sizes[ran].sum()))}"


def summarise(
    frame: pd.DataFrame,
    by: Sequence[str],
    metrics: dict[str, str],
    rates: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Mean ± std over seeds of each metric (format spec as value), per group; plus n seeds.

    ``rates``: metrics that are rates, each with the column of its number of inputs; they
    also get their pooled Wilson interval (:func:`rate`). A ``note`` column joins the
    distinct reasons of the group's rows that are not ``ok``.
    """
    rates = rates or {}
    rows = []
    for key, group in frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["seeds"] = group["seed"].nunique()
        for metric, digits in metrics.items():
            values = group[metric] if metric in group else pd.Series(dtype=float)
            if metric in rates and rates[metric] in group:
                row[metric] = rate(values, group[rates[metric]], digits)
            else:
                row[metric] = mean_std(values, digits)
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
    """Accuracy of the original and of each converted model, with its Wilson interval."""
    frame = predictions.assign(column=predictions["target"].map(target_column))
    table = summarise(frame, KEYS + ["column"], {"accuracy": ".4f"}, {"accuracy": "n_eval"})
    return _wide(table, "accuracy")


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
        {"disagreement": "n_eval"},
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
