"""The initialisation ablation's tables and figure, from the training records of its arms.

Per arm (:mod:`convstudy.ablation`) and seed: the validation accuracy of every epoch, its
peak (the highest epoch; the first of equal ones) and the last epoch's. Per seed, the gaps
(PyTorch minus Keras) at the peak and at the last epoch, and the effects (a gap minus the
own-initialisation gap, or one arm minus another); over seeds, their mean with a 95%
t-interval, and a sentence that says no more than the interval.

The peak is the best of the epochs on the validation set it is read from: optimistic by
selection, alike for every arm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from convstudy.ablation import ARMS, EFFECTS, GAPS, arm_of
from convstudy.atomic import atomic_output
from convstudy.records import TrainingRecord

#: The points of a curve that are compared.
POINTS = ("peak", "final")
#: Confidence level of every interval.
LEVEL = 0.95
#: One colour and line style per arm, in :data:`ARMS` order.
STYLES = {
    "torch": ("tab:red", "-"),
    "keras": ("tab:blue", "-"),
    "keras-from-torch": ("tab:blue", "--"),
    "torch-from-keras": ("tab:red", "--"),
    "torch-keras-eps": ("tab:orange", ":"),
}


def epoch_rows(folders: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (model, arm, seed, epoch) from the arms' model folders: train and
    validation accuracy, validation loss, seconds.

    Raises:
        ValueError: a model belongs to no arm, or two folders hold the same (model, arm, seed).
    """
    rows: list[dict[str, object]] = []
    seen: dict[tuple[str, str, int], str] = {}
    for folder in folders:
        record = TrainingRecord.load(folder)
        try:
            arm = arm_of(record.framework, record.init, record.hyper)
        except ValueError as error:
            raise ValueError(f"{folder}: {error}") from None
        key = (record.model, arm, record.seed)
        if key in seen:
            raise ValueError(f"{folder}: {key} is also {seen[key]}")
        seen[key] = str(folder)
        for entry in record.history:
            rows.append(
                {
                    "model": record.model,
                    "arm": arm,
                    "seed": record.seed,
                    "epoch": int(entry["epoch"]),
                    "train_acc": entry["train_acc"],
                    "val_acc": entry["val_acc"],
                    "val_loss": entry["val_loss"],
                    "seconds": entry["seconds"],
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {arm: i for i, arm in enumerate(ARMS)}
    models = {model: i for i, model in enumerate(dict.fromkeys(frame["model"]))}
    keys = frame.assign(_m=frame["model"].map(models), _a=frame["arm"].map(order))
    return keys.sort_values(["_m", "_a", "seed", "epoch"]).drop(columns=["_m", "_a"])


def cell_rows(epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, arm, seed): epochs trained, the peak validation accuracy and its
    epoch (the first of equal ones), the last epoch's, whether the peak is the last epoch
    (the curve may rise further), and the epoch of the lowest validation loss."""
    rows = []
    for (model, arm, seed), runs in epochs.groupby(["model", "arm", "seed"], sort=False):
        runs = runs.sort_values("epoch")
        best = runs.loc[runs["val_acc"].idxmax()]
        rows.append(
            {
                "model": model,
                "arm": arm,
                "seed": int(seed),
                "epochs": int(runs["epoch"].max()),
                "peak_acc": float(best["val_acc"]),
                "peak_epoch": int(best["epoch"]),
                "final_acc": float(runs["val_acc"].iloc[-1]),
                "peak_is_last": bool(best["epoch"] == runs["epoch"].max()),
                "min_loss_epoch": int(runs.loc[runs["val_loss"].idxmin(), "epoch"]),
                "seconds_per_epoch": float(runs["seconds"].mean()),
            }
        )
    return pd.DataFrame(rows)


def t_interval(values: Sequence[float] | pd.Series, level: float = LEVEL) -> tuple[float, float]:
    """The two-sided ``level`` t-interval of the mean of ``values``; NaN bounds with fewer
    than two values."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    n = len(data)
    if n < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(data.std(ddof=1)) / math.sqrt(n)
    mean = float(data.mean())
    return mean - half, mean + half


def _fmt(mean: float, low: float, high: float, digits: int = 4) -> str:
    if math.isnan(low):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _median_range(epochs: pd.Series) -> str:
    return f"{float(epochs.median()):g} ({int(epochs.min())}-{int(epochs.max())})"


def arm_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model and arm: the peak validation accuracy (mean [95% interval]), its epoch
    (median, range), the last epoch's accuracy, the seeds whose peak is the last epoch, and
    the epoch of the lowest validation loss (median, range)."""
    rows = []
    for (model, arm), group in cells.groupby(["model", "arm"], sort=False):
        row: dict[str, object] = {"model": model, "arm": arm, "seeds": len(group)}
        row["epochs"] = int(group["epochs"].max())
        for point in POINTS:
            values = group[f"{point}_acc"]
            row[f"{point}_acc"] = _fmt(float(values.mean()), *t_interval(values))
            if point == "peak":
                row["peak_epoch"] = _median_range(group["peak_epoch"])
        row["peak_is_last"] = f"{int(group['peak_is_last'].sum())} of {len(group)}"
        row["min_loss_epoch"] = _median_range(group["min_loss_epoch"])
        row["seconds_per_epoch"] = round(float(group["seconds_per_epoch"].mean()), 2)
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(cells: pd.DataFrame, model: str, point: str, a: str, b: str) -> pd.Series:
    """Per seed, arm ``a``'s accuracy minus arm ``b``'s at ``point`` (seeds having both)."""
    values = cells[cells["model"] == model].pivot(index="seed", columns="arm", values=point)
    if a not in values or b not in values:
        return pd.Series(dtype=float)
    return (values[a] - values[b]).dropna()


def _stat_row(
    model: str, name: str, point: str, values: pd.Series, label: str, subject: str = ""
) -> dict[str, object]:
    low, high = t_interval(values)
    mean = float(values.mean())
    return {
        "model": model,
        "kind": "effect" if subject else "gap",
        "name": name,
        "at": point,
        "seeds": len(values),
        "mean": round(mean, 4),
        "ci95_low": round(low, 4),
        "ci95_high": round(high, 4),
        "conclusion": sentence(label, point, len(values), mean, low, high, subject=subject),
    }


def gap_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model, at the peak and at the last epoch: every gap whose two arms ran (PyTorch
    minus Keras, per seed) and every effect whose parts ran (per seed), each with its mean,
    95% t-interval and the sentence it supports."""
    rows = []
    for model in dict.fromkeys(cells["model"]):
        for point in POINTS:
            column = f"{point}_acc"
            gaps: dict[str, pd.Series] = {}
            for gap in GAPS.values():
                values = _paired(cells, model, column, gap.torch, gap.keras)
                if not values.empty:
                    gaps[gap.name] = values
                    rows.append(_stat_row(model, gap.name, point, values, gap.label))
            for effect in EFFECTS.values():
                if effect.kind == "gap":
                    if effect.a not in gaps or effect.b not in gaps:
                        continue
                    values = (gaps[effect.a] - gaps[effect.b]).dropna()
                else:
                    values = _paired(cells, model, column, effect.a, effect.b)
                if not values.empty:
                    rows.append(
                        _stat_row(model, effect.name, point, values, effect.label, effect.subject)
                    )
    return pd.DataFrame(rows)


def sentence(
    label: str,
    point: str,
    n: int,
    mean: float,
    low: float,
    high: float,
    *,
    subject: str = "",
) -> str:
    """What a mean over seeds and its 95% interval support, and nothing more: an interval
    that excludes zero states the difference with its interval; one that includes zero
    states only the bound it puts on the difference.

    Args:
        label: a gap's arms' common ground ("both from PyTorch's initial weights"), or an
            effect's intervention ("starting Keras from PyTorch's initial weights").
        subject: for an effect, what the intervention changes ("the gap"); empty for a gap.
    """
    at = "at the peak" if point == "peak" else "at the last epoch"
    if n < 2 or math.isnan(low):
        head = f"{label} changes {subject} {at}" if subject else f"PyTorch - Keras {at}, {label}"
        return f"{head}: {mean:+.3f} from {n} seed, no interval"
    interval = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] (95% t-interval over {n} seeds)"
    detected = low > 0 or high < 0
    bound = f"{max(abs(low), abs(high)):.3f} at 95% ({interval})"
    if subject:
        if detected:
            return f"{label} changes {subject} {at} by {interval}"
        return f"{label}: no change of {subject} detected {at}, |change| < {bound}"
    if detected:
        return f"PyTorch - Keras {at}, {label}: {interval}"
    return f"PyTorch - Keras {at}, {label}: no gap detected, |gap| < {bound}"


def figure(epochs: pd.DataFrame, png: Path, svg: Path) -> None:
    """Validation accuracy per epoch of every arm, per model: the mean over seeds and its 95%
    t-interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model_names = list(dict.fromkeys(epochs["model"]))
    fig, axes = plt.subplots(
        1, len(model_names), figsize=(4.2 * len(model_names), 3.4), squeeze=False, sharey=True
    )
    for ax, model in zip(axes[0], model_names):
        runs = epochs[epochs["model"] == model]
        for arm in ARMS:
            curve = runs[runs["arm"] == arm]
            if curve.empty:
                continue
            by_epoch = curve.groupby("epoch")["val_acc"]
            mean = by_epoch.mean()
            bounds = np.array([t_interval(v) for _, v in by_epoch])
            colour, style = STYLES[arm]
            n = curve["seed"].nunique()
            ax.plot(mean.index, mean, style, color=colour, marker="o", ms=2.5, label=f"{arm} ({n})")
            if n > 1:
                ax.fill_between(mean.index, bounds[:, 0], bounds[:, 1], color=colour, alpha=0.12)
        ax.set_title(model)
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("validation accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right", title="arm (seeds)", title_fontsize=7)
    fig.tight_layout()
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=150)
    with atomic_output(svg) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
