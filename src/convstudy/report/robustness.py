"""RQ3's tables and figures from the gathered ``attacks`` and ``robustness`` tables.

Table V (CNNs) and VI (RNNs): per model, framework, attack and converted format, the
attack's success before (S_o) and after (S_c) conversion, the label disagreement between
original and converted model on the adversarial and on the clean inputs, and the mean
absolute output error on the adversarial set. Table VII: the robustness indicator.

The robustness indicator of STUDY.md, as computed here: for every cell (model, framework,
format) and attack A, d = |S_c - S_o| (mean over seeds); P(cell, A) = (d - min_A) /
(max_A - min_A), where min_A and max_A run over every cell of the table attacked by A (all
models, frameworks and formats), and P = 0 when max_A = min_A; R(cell) = the sum of P over
the attacks the cell's model faced. Smaller is better: 0 means the conversion changed the
attack's success the least among the cells. Cells not run (CoreML off macOS) have no R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from convstudy import registry
from convstudy.atomic import atomic_output
from convstudy.report.tables import KEYS, summarise, target_column

_METRICS = {
    "success_original": ".3f",
    "success_converted": ".3f",
    "disagreement_adversarial": ".3f",
    "disagreement_clean": ".3f",
    "abs_error_adversarial_prob": ".2e",
    "abs_error_adversarial_logit": ".2e",
}


def _of_kind(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of models of ``kind``, formats named by their route's last format."""
    if frame.empty:
        return frame
    frame = frame.assign(format=frame["format"].map(target_column))
    return frame[frame["model"].map(lambda m: registry.model(m).kind) == kind]


def _robustness_table(robustness: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = _of_kind(robustness, kind)
    table = summarise(frame, KEYS + ["attack", "format"], _METRICS)
    if not frame.empty:
        degenerate = frame.groupby(KEYS + ["attack", "format"], sort=False)["degenerate"].any()
        table.insert(len(KEYS) + 2, "degenerate", degenerate.values)
    return table


def table5_robustness_cnn(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table V: the image attacks' adversarial sets on every converted CNN."""
    return _robustness_table(robustness, "image")


def table6_robustness_rnn(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table VI: the text attack's adversarial sets on every converted RNN."""
    return _robustness_table(robustness, "text")


def indicator(robustness: pd.DataFrame) -> pd.DataFrame:
    """Per (model, framework, format): P for each attack and R, their sum (see the module)."""
    ran = robustness[robustness["status"] == "ok"] if not robustness.empty else robustness
    if ran.empty:
        return pd.DataFrame(columns=[*KEYS, "format", "R"])
    ran = ran.assign(format=ran["format"].map(target_column))
    cells = (
        ran.groupby([*KEYS, "format", "attack"], sort=False)[
            ["success_original", "success_converted"]
        ]
        .mean()
        .reset_index()
    )
    cells["delta"] = (cells["success_converted"] - cells["success_original"]).abs()
    low = cells.groupby("attack")["delta"].transform("min")
    high = cells.groupby("attack")["delta"].transform("max")
    span = high - low
    cells["P"] = np.where(span > 0, (cells["delta"] - low) / span.where(span > 0, 1.0), 0.0)
    wide = cells.pivot_table(index=[*KEYS, "format"], columns="attack", values="P", sort=False)
    wide.columns = [f"P_{attack}" for attack in wide.columns]
    wide["R"] = wide.sum(axis=1)
    return wide.reset_index().round(4)


def table7_indicator(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table VII: the robustness indicator R of each conversion."""
    return indicator(robustness)


def _attack_figure(robustness: pd.DataFrame, kind: str, png: Path, svg: Path) -> None:
    """Attack success before (original) and after conversion, per model/framework and
    format, one panel per attack; mean ± std over seeds; cells not run are left empty
    and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = _of_kind(robustness, kind)
    attacks = list(dict.fromkeys(frame["attack"])) or ["none"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(6.0 * len(attacks), 3.4), squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        runs = frame[frame["attack"] == attack]
        cells = list(dict.fromkeys(zip(runs["model"], runs["framework"])))
        formats = list(dict.fromkeys(runs["format"]))
        bars = ["original", *formats]
        width = 0.8 / max(len(bars), 1)
        for j, bar in enumerate(bars):
            means, stds = [], []
            for model, framework in cells:
                cell = runs[(runs["model"] == model) & (runs["framework"] == framework)]
                if bar == "original":
                    values = cell.groupby("seed")["success_original"].first()
                else:
                    values = cell.loc[cell["format"] == bar, "success_converted"]
                means.append(values.mean() if values.notna().any() else np.nan)
                stds.append(values.std(ddof=1) if values.notna().sum() > 1 else 0.0)
            x = np.arange(len(cells)) + (j - (len(bars) - 1) / 2) * width
            ax.bar(x, np.nan_to_num(means), width, yerr=stds, label=bar, capsize=2)
            for xi, mean in zip(x, means):
                if np.isnan(mean):
                    ax.text(xi, 0.02, "not run", rotation=90, fontsize=6, ha="center")
        ax.set_xticks(np.arange(len(cells)))
        ax.set_xticklabels([f"{m}\n{f}" for m, f in cells], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{attack}: attack success before and after conversion")
        ax.set_ylabel("success rate")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=150)
    with atomic_output(svg) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def figure3_attack_cnn(robustness: pd.DataFrame, png: Path, svg: Path) -> None:
    """Figure 3: image attacks' success before and after conversion (CNNs)."""
    _attack_figure(robustness, "image", png, svg)


def figure4_attack_rnn(robustness: pd.DataFrame, png: Path, svg: Path) -> None:
    """Figure 4: the text attack's success before and after conversion (RNNs)."""
    _attack_figure(robustness, "text", png, svg)


def table_attack_cost(attacks: pd.DataFrame) -> pd.DataFrame:
    """Per model, framework, attack and attacked model (the original; a converted model
    attacked directly): success, perturbation size, queries and seconds per input (mean
    ± std over seeds)."""
    if "target" in attacks:
        attacks = attacks.assign(target=attacks["target"].map(target_column))
    by = [*KEYS, "attack", "target"] if "target" in attacks else [*KEYS, "attack"]
    table = summarise(
        attacks,
        by,
        {
            "n": ".0f",
            "success_rate": ".3f",
            "median_l2": ".3f",
            "median_linf": ".4f",
            "queries_per_input": ".0f",
            "seconds_per_input": ".3f",
        },
    )
    if "facts_embedding" in attacks and attacks["facts_embedding"].notna().any():
        table.insert(len(by), "embedding", _embeddings(attacks, by).values)
    return table


def _embeddings(attacks: pd.DataFrame, by: list[str]) -> pd.Series:
    """Per group: the word embeddings its rows used, each said to be counter-fitted or
    not ("" for attacks without one)."""

    def name(row: pd.Series) -> str:
        if pd.isna(row["facts_embedding"]):
            return ""
        fitted = row.get("facts_counter_fitted") in (True, "True")  # bool, or from a CSV
        return f"{row['facts_embedding']} ({'' if fitted else 'not '}counter-fitted)"

    named = attacks.assign(_embedding=attacks.apply(name, axis=1))
    return named.groupby(by, sort=False)["_embedding"].agg(lambda v: "; ".join(sorted(set(v))))
