"""Louloudakis et al.'s grid reported: label change per source and target framework (their
Figure 1), the published values beside ours, and the InceptionV3 TF -> TFLite case study
(every TFLite setting: label change, what the localization names, the repair's effect).

Inputs are the pairs' comparisons (a target's outputs against its source's, on the same
images), the conversion records of every hop and the localizations; numpy, pandas and
matplotlib only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convstudy import registry
from convstudy.models import published as published_weights
from convstudy.records import ComparisonRecord, ConversionRecord, LocalizationRecord

#: The paper's frameworks, in the order of its Figure 1.
FRAMEWORKS = ("torch", "keras", "tf", "tflite")
LABELS = {"torch": "PyTorch", "keras": "Keras", "tf": "TensorFlow", "tflite": "TFLite"}
#: The published values (Louloudakis et al., Figure 1 and the case study; STUDY.md).
PUBLISHED: dict[str, Any] = {
    "crashed": (10, 36),
    "over_35": (10, 36),
    "max": ("resnet101", "torch", "tf", 0.72),
    "tf_keras": {"mobilenetv2": 0.49, "resnet101": 0.04, "inceptionv3": "crash"},
    "to_torch": ("tf", "tflite", 0.0),
    "tf_tflite": (0.0, 0.10),
    "case": ("inceptionv3", 240, 5500, 0.01),
}


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval (95 %) of a rate ``k / n``."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _hops_after(base: str, route: str) -> list[str]:
    """The hops of ``route`` after its ``base`` (the conversions of the pair itself)."""
    hops = registry.route_prefixes(route)
    if base == registry.ORIGINAL:
        return hops
    return hops[len(registry.route_prefixes(base)) :]


def pair_rows(
    pairs: Sequence[Mapping[str, str]], comparisons: Mapping[str, Path], conversions: Path
) -> pd.DataFrame:
    """One row per pair: its route after the source, the converters, the status (the first
    hop that did not succeed, with its reason), the images, the label change with its
    Wilson interval and the largest output error.

    Args:
        pairs: the grid's pairs (``convstudy.grid.Pair`` as dicts).
        comparisons: each pair's comparison file, by ``"<model>/<framework>/<seed>/<base>/<route>"``.
        conversions: the ``results/converted`` folder.
    """
    rows = []
    for pair in pairs:
        key = "/".join(str(pair[k]) for k in ("model", "framework", "seed", "base", "route"))
        cell = conversions / pair["model"] / pair["framework"] / f"seed{pair['seed']}"
        hops = _hops_after(pair["base"], pair["route"])
        records = [ConversionRecord.load(cell / hop / ConversionRecord.FILE) for hop in hops]
        failed = next((r for r in records if r.status != "ok"), None)
        compared = ComparisonRecord.load(comparisons[key])
        row: dict[str, Any] = {
            "model": pair["model"],
            "framework": pair["framework"],
            "seed": int(pair["seed"]),
            "source": pair["source"],
            "target": pair["target"],
            "path": " -> ".join(hop.rsplit(registry.ROUTE_SEP, 1)[-1] for hop in hops),
            "converters": " + ".join(r.converter or "none" for r in records),
            "status": failed.status if failed else compared.status,
            "reason": (failed.reason if failed else compared.reason) or "",
            "n": compared.n_eval if compared.status == "ok" else 0,
            "base": pair["base"],
            "route": pair["route"],
        }
        if compared.status == "ok":
            changed = compared.metrics["disagreement"]
            k = round(changed * compared.n_eval)
            low, high = wilson(k, compared.n_eval)
            row.update(
                changed=k,
                disagreement=changed,
                ci_low=low,
                ci_high=high,
                max_abs_error_logit=compared.metrics.get("max_abs_error_logit"),
                rel_error_norm_logit=compared.metrics.get("rel_error_norm_logit"),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def models_table(
    trained: Sequence[Path], originals: Sequence[Path], floor: Mapping[str, float]
) -> pd.DataFrame:
    """One row per source model: the weights it has (trained by this run: dataset, images,
    input size, epochs; or imported), its validation accuracy at the end of training and
    its accuracy on the evaluation images with the Wilson interval, against the dataset's
    floor (``robustness.floor``).

    Args:
        trained: the model folders (``results/models/<cell>``, with ``train.json``).
        originals: the originals' prediction records (``results/predictions/<cell>/original.json``).
        floor: accuracy floor per dataset.
    """
    accuracy = {}
    for path in originals:
        record = json.loads(path.read_text())
        accuracy[(record["model"], record["framework"], int(record["seed"]))] = record
    lines = []
    for folder in trained:
        record = json.loads((folder / "train.json").read_text())
        key = (record["model"], record["framework"], int(record["seed"]))
        hyper, shape = record.get("hyper", {}), record.get("input_shape") or []
        size = "x".join(str(d) for d in shape[:2]) if len(shape) == 3 else "?"
        train = (hyper.get("subset") or {}).get("train") or "all"
        published = record.get("init") == published_weights.INIT
        adopted = record.get("init") in (published_weights.INIT, published_weights.KERAS_INIT)
        weights = (
            record["imported_from"]
            if adopted
            else f"imported ({record['imported_from']})"
            if record.get("imported_from")
            else f"trained here: {record['dataset']}, {train} images at {size}, "
            f"{record.get('epochs')} epochs, seed {record['seed']}"
        )
        line: dict[str, Any] = {
            "model": record["model"], "framework": record["framework"], "seed": record["seed"],
            "weights": weights, "val_acc": record.get("final_val_acc"),
        }  # fmt: skip
        predicted = accuracy.get(key)
        if published:  # ImageNet's classes: the evaluation images' labels do not apply
            line.update(floor=None, above_floor="n/a: ImageNet classifier")
        elif predicted and predicted.get("status") == "ok":
            n, acc = int(predicted["n_eval"]), float(predicted["accuracy"])
            low, high = wilson(round(acc * n), n)
            least = float(floor.get(record["dataset"], 0.0))
            line.update(
                n=n, accuracy=acc, ci_low=low, ci_high=high, floor=least, above_floor=acc >= least
            )
        lines.append(line)
    return pd.DataFrame(lines)


def _span(rows: pd.DataFrame) -> str:
    """The range of the rows' label change, in percent."""
    return f"{rows['disagreement'].min():.1%}-{rows['disagreement'].max():.1%}"


def _no_converter(row: pd.Series) -> bool:
    """A pair that failed because no converter performs one of its hops (not a crash)."""
    return row["status"] == "error" and str(row["reason"]).startswith("NoConverter")


def _cell_text(row: pd.Series) -> str:
    if row["status"] != "ok":
        if row["status"] != "error":
            return "not run"
        return "no converter" if _no_converter(row) else "crash"
    return f"{row['disagreement']:.1%} [{row['ci_low']:.1%}, {row['ci_high']:.1%}]"


def grid_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Figure 1 as a table: per model and source, one column per target with the label
    change of the pair's first path (its other paths are in the pairs' long table)."""
    first = rows.drop_duplicates(["model", "seed", "source", "target"], keep="first")
    table = (
        first.assign(cell=first.apply(_cell_text, axis=1))
        .pivot_table(
            index=["model", "seed", "source"], columns="target", values="cell", aggfunc="first"
        )
        .reindex(columns=[t for t in FRAMEWORKS if t in set(first["target"])])
        .fillna("")
        .reset_index()
    )
    order = {name: i for i, name in enumerate(FRAMEWORKS)}
    return table.sort_values(
        ["model", "seed", "source"],
        key=lambda s: s.map(order).fillna(s) if s.name == "source" else s,
    ).reset_index(drop=True)


def published_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Each published value beside ours (the first path of each pair, every seed pooled)."""
    first = rows.drop_duplicates(["model", "seed", "source", "target"], keep="first")
    ok = first[first["status"] == "ok"]
    lines: list[dict[str, str]] = []

    def add(claim: str, published: str, ours: str) -> None:
        lines.append({"published claim": claim, "published": published, "ours": ours})

    failed, total = first[first["status"] == "error"], len(first)
    missing = int(failed.apply(_no_converter, axis=1).sum()) if len(failed) else 0
    add("conversions that crash", f"{PUBLISHED['crashed'][0]} of {PUBLISHED['crashed'][1]}",
        f"{len(failed)} of {total} ({len(failed) - missing} crashed, {missing} with no converter)")  # fmt: skip
    over = int((ok["disagreement"] > 0.35).sum())
    add("conversions that change over 35% of the labels", "10 of 36", f"{over} of {total}")
    model, source, target, value = PUBLISHED["max"]
    if len(ok) and ok["disagreement"].max() == 0:
        add("the largest label change", f"{value:.0%} ({model}, {LABELS[source]} -> {LABELS[target]})",
            f"none: no conversion changed a label ({len(ok)} evaluated)")  # fmt: skip
    elif len(ok):
        worst = ok.loc[ok["disagreement"].idxmax()]
        add("the largest label change", f"{value:.0%} ({model}, {LABELS[source]} -> {LABELS[target]})",
            f"{worst['disagreement']:.1%} ({worst['model']}, {LABELS[worst['source']]} -> "
            f"{LABELS[worst['target']]})")  # fmt: skip
    for name, published in PUBLISHED["tf_keras"].items():
        cell = first[
            (first["model"] == name) & (first["source"] == "tf") & (first["target"] == "keras")
        ]
        if len(cell):
            add(f"TF -> Keras, {name}", published if isinstance(published, str) else f"{published:.0%}",
                "; ".join(_cell_text(r) + (f" ({r['reason'][:80]})" if r["status"] != "ok" else "")
                          for _, r in cell.iterrows()))  # fmt: skip
    to_torch = ok[ok["target"] == "torch"]
    for source in ("tf", "tflite"):
        part = to_torch[to_torch["source"] == source]
        if len(part):
            add(f"{LABELS[source]} -> PyTorch", "no label change",
                f"{int(part['changed'].sum())} of {int(part['n'].sum())} labels changed")  # fmt: skip
    # every TFLite setting of TF -> TFLite (each a path of the pair), not only the first
    every = rows[(rows["status"] == "ok") & (rows["source"] == "tf") & (rows["target"] == "tflite")]
    if len(every):
        settings = "; ".join(
            f"{path} {_span(part)}" for path, part in every.groupby("path", sort=False)
        )
        add("TF -> TFLite", "0-10% of labels", f"{_span(every)} ({settings})")  # fmt: skip
    return pd.DataFrame(lines)


def case_table(
    rows: pd.DataFrame, localizations: Sequence[Path], case: Mapping[str, str]
) -> pd.DataFrame:
    """The case study: every path of the case's pair (every TFLite setting): label change,
    the localization's hop, the parameters' largest and mean deviation over the
    convolutions, the hyperparameters that differ, the first divergent layer, and the
    repair's label change before and after; the published case first."""
    chosen = rows[
        (rows["model"] == case.get("model"))
        & (rows["source"] == case.get("source"))
        & (rows["target"] == case.get("target"))
    ]
    # .../localization/<model>/<framework>/seed<seed>/<base>/<route>
    found = {tuple(Path(p).parts[-5:]): Path(p) for p in localizations}
    model, changed, n, deviation = PUBLISHED["case"]
    lines: list[dict[str, Any]] = [{
        "model": model, "seed": "-", "path": "published (TFLiteConverter)", "status": "-",
        "label change": f"{changed} of {n}", "hop": "TF -> TFLite",
        "conv weights: largest deviation": deviation,
        "conv weights: largest mean deviation": "-", "hyperparameters differing": "-",
        "first divergent layer": "convolution weights (precision)",
        "repair": "weights replaced: error reduced to zero",
    }]  # fmt: skip
    for _, row in chosen.iterrows():
        line: dict[str, Any] = {
            "model": row["model"], "seed": row["seed"], "path": row["path"], "status": row["status"],
            "label change": f"{row.get('changed', 0):.0f} of {row['n']}" if row["status"] == "ok" else row["reason"][:80],
        }  # fmt: skip
        key = (row["model"], row["framework"], f"seed{row['seed']}", row["base"], row["route"])
        where = found.get(key)
        if where is not None and (where / LocalizationRecord.FILE).is_file():
            record = LocalizationRecord.load(where / LocalizationRecord.FILE)
            document = (
                json.loads((where / "localization.json").read_text())
                if (where / "localization.json").is_file()
                else {}
            )
            convs = [
                p
                for p in document.get("parameters", [])
                if p.get("kind") == "conv" and p.get("parameter") == "weight"
            ]
            largest = max(
                (p.get("max_abs_diff", p.get("mean_abs_diff", 0.0)) or 0.0 for p in convs),
                default=math.nan,
            )
            mean = max((p.get("mean_abs_diff") or 0.0 for p in convs), default=math.nan)
            line.update({
                "hop": record.first_hop or "-",
                "conv weights: largest deviation": largest,
                "conv weights: largest mean deviation": mean,
                "hyperparameters differing": sum(1 for h in document.get("hyperparameters", []) if h.get("divergent")),
                "first divergent layer": f"{record.stage}: {record.target_node} ({record.op_type})" if record.stage else "none",
                "repair": _repair(record),
            })  # fmt: skip
        lines.append(line)
    return pd.DataFrame(lines)


def _repair(record: LocalizationRecord) -> str:
    """The repair's effect, on the inputs the localization chose (those its views disagree
    on first: a rate over them is no population rate); nothing when no layer diverged."""
    if not record.stage:
        return "nothing to repair: no layer diverges"
    if record.disagreement_before is None or record.disagreement_after is None:
        return record.reason or "-"
    return (
        f"{record.disagreement_before:.2%} -> {record.disagreement_after:.2%} of "
        f"{record.n_inputs} chosen inputs"
    )


def figure(rows: pd.DataFrame, out: Path) -> None:
    """Figure 1: per model, sources x targets, the first path's label change (colour and
    number), crashed pairs marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    first = rows.drop_duplicates(["model", "source", "target"], keep="first")
    models = list(dict.fromkeys(first["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.4 * len(models) + 0.6, 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        part = first[first["model"] == model]
        grid = np.full((len(FRAMEWORKS), len(FRAMEWORKS)), np.nan)
        ax.imshow(np.zeros_like(grid), cmap="Greys", vmin=0, vmax=1)
        shown = ax.imshow(grid, cmap="Reds", vmin=0, vmax=1)
        for _, row in part.iterrows():
            i, j = FRAMEWORKS.index(row["source"]), FRAMEWORKS.index(row["target"])
            if row["status"] == "ok":
                grid[i, j] = row["disagreement"]
                text = f"{row['disagreement']:.0%}"
            else:
                text = _cell_text(row).replace(" ", "\n")
                ax.add_patch(
                    plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", color="0.5")
                )
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
        shown.set_data(np.ma.masked_invalid(grid))
        ax.set_xticks(
            range(len(FRAMEWORKS)),
            [LABELS[f] for f in FRAMEWORKS],
            rotation=30,
            ha="right",
            fontsize=8,
        )
        ax.set_yticks(range(len(FRAMEWORKS)), [LABELS[f] for f in FRAMEWORKS], fontsize=8)
        ax.set_title(
            registry.model(model).label if model in registry.MODELS else model, fontsize=10
        )
        ax.set_xlabel("target", fontsize=8)
    axes[0][0].set_ylabel("source", fontsize=8)
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.03, label="labels changed")
    fig.savefig(out, dpi=150, bbox_inches="tight")
    fig.savefig(out.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)
