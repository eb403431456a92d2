"""Tables I-IV and Figure 2 from the gathered CSVs (mean and std over seeds).

Cells that did not run (the CoreML runtime off macOS, a failed conversion) are shown as
such, with the reason, never left out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

KEYS = ["model", "framework"]
NOT_RUN = "not run"


def _mean_std(values: pd.Series, digits: str) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return NOT_RUN
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():{digits}} ± {std:{digits}}"


def summarise(frame: pd.DataFrame, by: Sequence[str], metrics: dict[str, str]) -> pd.DataFrame:
    """Mean ± std over seeds of each metric (format spec as value), per group; plus n seeds."""
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


def table1_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of the original and of each converted model."""
    table = summarise(predictions, KEYS + ["target"], {"accuracy": ".4f"})
    wide = table.pivot(index=KEYS, columns="target", values="accuracy")
    order = [t for t in ["original", "onnx", "coreml-fp32", "coreml-fp16"] if t in wide.columns]
    return wide[order].reset_index()


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
    frame = predictions.assign(size_mb=predictions["size_bytes"] / 1e6)
    table = summarise(frame.assign(status="ok"), KEYS + ["target"], {"size_mb": ".3f"})
    wide = table.pivot(index=KEYS, columns="target", values="size_mb")
    order = [t for t in ["original", "onnx", "coreml-fp32", "coreml-fp16"] if t in wide.columns]
    return wide[order].reset_index()


def figure2_training(training: pd.DataFrame, png: Path, svg: Path) -> None:
    """Training and validation accuracy per epoch, per model, both frameworks (mean ± std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(training["model"]))
    fig, axes = plt.subplots(
        1, len(models), figsize=(3.2 * len(models), 3.0), squeeze=False, sharey=True
    )
    for ax, model in zip(axes[0], models):
        for framework, colour in (("torch", "tab:red"), ("keras", "tab:blue")):
            runs = training[(training["model"] == model) & (training["framework"] == framework)]
            if runs.empty:
                continue
            for column, style in (("train_acc", "-"), ("val_acc", "--")):
                stats = runs.groupby("epoch")[column].agg(["mean", "std"]).fillna(0.0)
                ax.plot(
                    stats.index,
                    stats["mean"],
                    style,
                    color=colour,
                    marker="o",
                    ms=3,
                    label=f"{framework} {column.split('_')[0]}",
                )
                ax.fill_between(
                    stats.index,
                    stats["mean"] - stats["std"],
                    stats["mean"] + stats["std"],
                    color=colour,
                    alpha=0.15,
                )
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_xticks(sorted(training.loc[training["model"] == model, "epoch"].unique()))
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=150)
    fig.savefig(svg)
    plt.close(fig)


def _write(table: pd.DataFrame, out_dir: Path, name: str, title: str) -> None:
    table.to_csv(out_dir / f"{name}.csv", index=False)
    (out_dir / f"{name}.md").write_text(f"**{title}**\n\n" + table.to_markdown(index=False) + "\n")
    logger.info("wrote %s (%d rows)", name, len(table))


def write_report(*, training: str, predictions: str, comparisons: str, out_dir: str | Path) -> None:
    """Write Tables I-IV (CSV and Markdown) and Figure 2 (PNG and SVG) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    preds, comps = pd.read_csv(predictions), pd.read_csv(comparisons)
    _write(
        table1_accuracy(preds),
        out_dir,
        "table1_accuracy",
        "Table I: accuracy (mean ± std over seeds)",
    )
    _write(
        table2_errors(comps),
        out_dir,
        "table2_errors",
        "Table II: output errors and label disagreement",
    )
    _write(table3_time(preds), out_dir, "table3_time", "Table III: load and inference time (s)")
    _write(table4_size(preds), out_dir, "table4_size", "Table IV: size on disk (MB)")
    figure2_training(
        pd.read_csv(training), out_dir / "figure2_training.png", out_dir / "figure2_training.svg"
    )
