"""Figures of the study, written as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convstudy import registry
from convstudy.atomic import atomic_output

#: One colour per framework, in registry order.
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def figure2_training(training: pd.DataFrame, png: Path, svg: Path) -> None:
    """Training and validation accuracy per epoch, per model, each framework (mean ± std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(training["model"]))
    fig, axes = plt.subplots(
        1, len(models), figsize=(3.2 * len(models), 3.0), squeeze=False, sharey=True
    )
    for ax, model in zip(axes[0], models):
        for framework, colour in zip(registry.FRAMEWORKS, COLOURS):
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
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=150)
    with atomic_output(svg) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
