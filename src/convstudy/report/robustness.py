"""RQ3's tables and figures from the gathered ``attacks`` and ``robustness`` tables.

Table V (CNNs) and VI (RNNs): per model, framework, attack and converted format, the
attack's success before (S_o) and after (S_c) conversion, with the Wilson interval of the
inputs pooled over seeds, the discordant inputs (successful on the original only / on the
converted model only) and McNemar's exact test of S_o against S_c on them; the label
disagreement between original and converted model on the adversarial set, the mean
absolute output error on it, and the clean disagreement (0 by construction for every
converted model that chose the inputs). The Boundary attack minimises its perturbation
without a bound, so its S_o is 1 by construction; :func:`table_boundary_bounded` gives its
success within stated bounds, :func:`table_boundary_steps` the distance it reached against
its steps, and :func:`table_rq3_tests` the tests pooled over models and seeds.

The robustness indicator of STUDY.md, as computed here: for every cell (model, framework,
format) and attack A, d = |S_c - S_o| (mean over seeds); P(cell, A) = (d - min_A) /
(max_A - min_A), where min_A and max_A run over every cell of the table attacked by A (all
models, frameworks and formats), and P = 0 when max_A = min_A; R(cell) = the sum of P over
the attacks the cell's model faced. Smaller is better: 0 means the conversion changed the
attack's success the least among the cells. Cells not run (CoreML off macOS) have no R.
Since min_A and max_A come from the cells in the table, R compares cells of one table only:
a cell added or removed (CoreML cells on macOS) changes every R.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from convstudy import registry
from convstudy.atomic import atomic_output
from convstudy.report.tables import KEYS, NOT_RUN, interval, mean_std, summarise, target_column
from convstudy.stats import Paired

#: The paired outcomes of a robustness record (see ``RobustnessRecord.outcomes``).
PAIRED = ("n", "k_original", "k_converted", "original_only", "converted_only")
#: Labels of the bounded outcomes.
BOUNDED = {"linf": "L∞", "l2": "L2"}
#: What R depends on, said under Table VII.
INDICATOR_NOTE = (
    "R is min-max normalised over the cells of this table (per attack, across models, "
    "frameworks and formats): a cell that runs or not (the CoreML cells, which run on "
    "macOS only) changes every R. Compare R within one table, and read |S_c - S_o| with "
    "its interval for the size of the effect."
)


def _of_kind(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of models of ``kind``, formats named by their route's last format."""
    if frame.empty:
        return frame
    frame = frame.assign(format=frame["format"].map(target_column))
    return frame[frame["model"].map(lambda m: registry.model(m).kind) == kind]


def paired(group: pd.DataFrame, outcome: str = "any") -> Paired | None:
    """The paired outcomes ``outcome`` of the group's rows that ran, pooled (summed) over
    them; None when none ran or the table has no such outcomes."""
    columns = [f"outcomes_{outcome}_{name}" for name in PAIRED]
    if not set(columns) <= set(group.columns):
        return None
    ran = group[columns].dropna()
    if ran.empty:
        return None
    total = ran.sum()
    return Paired(*(int(total[c]) for c in columns))


def _success(group: pd.DataFrame, outcome: str, which: str, digits: str = ".3f") -> str:
    """S_o or S_c (``which``: "original", "converted") of the group: per-seed rates as
    mean ± std, and the Wilson interval of the pooled inputs."""
    pooled = paired(group, outcome)
    if pooled is None:
        return NOT_RUN
    rows = group.dropna(subset=[f"outcomes_{outcome}_n"])
    per_seed = rows[f"outcomes_{outcome}_k_{which}"] / rows[f"outcomes_{outcome}_n"]
    k = getattr(pooled, f"k_{which}")
    return f"{mean_std(per_seed, digits)} {interval(k, pooled.n)}"


def p_value(value: float) -> str:
    """A p-value as printed: three significant digits, "< 0.001" below."""
    return "< 0.001" if value < 1e-3 else f"{value:.3g}"


def _test_columns(pooled: Paired | None) -> dict[str, str]:
    if pooled is None:
        return {"discordant (o/c)": NOT_RUN, "mcnemar_p": NOT_RUN}
    return {
        "discordant (o/c)": f"{pooled.original_only}/{pooled.converted_only}",
        "mcnemar_p": p_value(pooled.p_value),
    }


def _clean_disagreement(group: pd.DataFrame) -> str:
    """The clean disagreement on the attacked inputs: 0 by construction when the converted
    model took part in choosing them (so it is not shown as a finding)."""
    ran = group.dropna(subset=["disagreement_clean"])
    if ran.empty:
        return NOT_RUN
    chosen = ran["selected"].astype(bool) if "selected" in ran else pd.Series(False, ran.index)
    if chosen.all() and (ran["disagreement_clean"] == 0).all():
        return "0 (by construction)"
    k = sum(round(r * n) for r, n in zip(ran["disagreement_clean"], ran["n"]))
    return f"{mean_std(ran['disagreement_clean'], '.3f')} {interval(k, int(ran['n'].sum()))}"


def _groups(frame: pd.DataFrame, by: list[str]) -> Iterator[tuple[dict[str, object], pd.DataFrame]]:
    for key, group in frame.groupby(by, sort=False):
        yield dict(zip(by, key if isinstance(key, tuple) else (key,))), group


def _robustness_table(robustness: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = _of_kind(robustness, kind)
    if frame.empty:
        return pd.DataFrame()
    by = [*KEYS, "attack", "format"]
    errors = summarise(
        frame,
        by,
        {
            "disagreement_adversarial": ".3f",
            "abs_error_adversarial_prob": ".2e",
            "abs_error_adversarial_logit": ".2e",
        },
        {"disagreement_adversarial": "n"},
    ).set_index(by)
    rows = []
    for key, group in _groups(frame, by):
        ran = group[group["status"] == "ok"]
        pooled = paired(ran)
        row: dict[str, object] = {
            **key,
            "degenerate": bool(group["degenerate"].any()),
            "seeds": group["seed"].nunique(),
            "n": int(ran["n"].sum()) if len(ran) else 0,
            "bound": _first(ran, "outcomes_any_bound"),
            "success_original": _success(ran, "any", "original"),
            "success_converted": _success(ran, "any", "converted"),
            **_test_columns(pooled),
        }
        attack = registry.attack(str(key["attack"]))
        if attack.unbounded and pooled is not None and pooled.k_original == pooled.n:
            row["success_original"] = "1 (by construction)"
        stats = errors.loc[tuple(key.values())]
        for column in ("disagreement_adversarial", "abs_error_adversarial_prob",
                       "abs_error_adversarial_logit"):  # fmt: skip
            row[column] = stats[column]
        row["disagreement_clean"] = _clean_disagreement(ran)
        row["note"] = stats["note"]
        rows.append(row)
    return pd.DataFrame(rows)


def _first(frame: pd.DataFrame, column: str) -> str:
    """The distinct values of ``column`` in ``frame``, joined ("" when none)."""
    values = frame[column].dropna() if column in frame else pd.Series(dtype=object)
    return "; ".join(dict.fromkeys(map(str, values)))


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in registry order of attack and format (stable otherwise)."""
    attacks, formats = list(registry.ATTACKS), [registry.ORIGINAL, *registry.FORMATS]
    keys = {
        "attack": lambda c: c.map(lambda a: attacks.index(a) if a in attacks else len(attacks)),
        "format": lambda c: c.map(lambda f: formats.index(f) if f in formats else len(formats)),
    }
    by = [k for k in keys if k in frame]
    if frame.empty or not by:
        return frame
    ranks = pd.DataFrame({k: keys[k](frame[k]) for k in by})
    return frame.loc[ranks.sort_values(by, kind="stable").index].reset_index(drop=True)


def table5_robustness_cnn(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table V: the image attacks' adversarial sets on every converted CNN."""
    return _robustness_table(robustness, "image")


def table6_robustness_rnn(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table VI: the text attack's adversarial sets on every converted RNN."""
    return _robustness_table(robustness, "text")


def table_boundary_bounded(robustness: pd.DataFrame) -> pd.DataFrame:
    """The attacks with perturbation bounds (Boundary): success before and after
    conversion counted only for examples within each bound, with McNemar's test."""
    frame = _of_kind(robustness, "image")
    rows = []
    for norm, label in BOUNDED.items():
        if frame.empty or f"outcomes_{norm}_n" not in frame:
            continue
        bounded = frame[frame["attack"].map(lambda a: registry.attack(a).unbounded)]
        for key, group in _groups(bounded, [*KEYS, "format"]):
            ran = group[group["status"] == "ok"]
            rows.append(
                {
                    "model": key["model"],
                    "framework": key["framework"],
                    "attack": _first(group, "attack"),
                    "bound": _first(ran, f"outcomes_{norm}_bound") or label,
                    "format": key["format"],
                    "seeds": group["seed"].nunique(),
                    "n": int(ran["n"].sum()) if len(ran) else 0,
                    "success_original": _success(ran, norm, "original"),
                    "success_converted": _success(ran, norm, "converted"),
                    **_test_columns(paired(ran, norm)),
                    "note": "; ".join(
                        group.loc[group["status"] != "ok", "reason"].dropna().unique()
                    ),
                }
            )
    return pd.DataFrame(rows)


def table_rq3_tests(robustness: pd.DataFrame) -> pd.DataFrame:
    """S_o against S_c pooled over models, frameworks and seeds, per attack, bound and
    format: the pooled rates with their intervals and McNemar's exact test."""
    if robustness.empty:
        return pd.DataFrame()
    frame = robustness[robustness["status"] == "ok"]
    frame = frame.assign(format=frame["format"].map(target_column))
    rows = []
    for outcome in ("any", *BOUNDED):
        if f"outcomes_{outcome}_n" not in frame:
            continue
        for key, group in _groups(
            frame.dropna(subset=[f"outcomes_{outcome}_n"]), ["attack", "format"]
        ):
            pooled = paired(group, outcome)
            assert pooled is not None
            rows.append(
                {
                    **key,
                    "bound": _first(group, f"outcomes_{outcome}_bound"),
                    "cells": group[KEYS].drop_duplicates().shape[0],
                    "seeds": group["seed"].nunique(),
                    "n": pooled.n,
                    "success_original": f"{pooled.k_original / pooled.n:.3f} "
                    + interval(pooled.k_original, pooled.n),
                    "success_converted": f"{pooled.k_converted / pooled.n:.3f} "
                    + interval(pooled.k_converted, pooled.n),
                    **_test_columns(pooled),
                }
            )
    return _order(pd.DataFrame(rows))


def indicator(robustness: pd.DataFrame) -> pd.DataFrame:
    """Per (model, framework, format): P for each attack and R, their sum (see the module);
    beside them |S_c - S_o| of each attack with its 95 % interval (Newcombe's, for paired
    rates, on the inputs pooled over seeds) where the outcomes are recorded."""
    ran = robustness[robustness["status"] == "ok"] if not robustness.empty else robustness
    if ran.empty:
        return pd.DataFrame(columns=[*KEYS, "format", "R"])
    ran = ran.assign(format=ran["format"].map(target_column))
    by = [*KEYS, "format", "attack"]
    cells = ran.groupby(by, sort=False)[["success_original", "success_converted"]].mean()
    cells = cells.reset_index()
    cells["delta"] = (cells["success_converted"] - cells["success_original"]).abs()
    low = cells.groupby("attack")["delta"].transform("min")
    high = cells.groupby("attack")["delta"].transform("max")
    span = high - low
    cells["P"] = np.where(span > 0, (cells["delta"] - low) / span.where(span > 0, 1.0), 0.0)
    sizes = {}
    for key, group in _groups(ran, by):
        pooled = paired(group)
        if pooled is not None:
            size, lo, hi = pooled.abs_difference()
            sizes[tuple(key.values())] = f"{size:.3f} [{lo:.3f}, {hi:.3f}]"
    cells["size"] = [sizes.get(tuple(row), "") for row in cells[by].itertuples(index=False)]
    index = [*KEYS, "format"]
    attacks = [a for a in registry.ATTACKS if a in set(cells["attack"])]
    wide = cells.pivot_table(index=index, columns="attack", values="P", sort=False)[attacks]
    wide.columns = [f"P_{attack}" for attack in attacks]
    wide["R"] = wide.sum(axis=1)
    wide = wide.reset_index().round(4)
    if any(sizes.values()):
        effect = cells.pivot_table(
            index=index, columns="attack", values="size", aggfunc="first", sort=False
        ).reindex(columns=attacks)
        effect.columns = [f"|S_c-S_o| {attack}" for attack in attacks]
        wide = wide.merge(effect.reset_index(), on=index, how="left", sort=False)
        wide[effect.columns] = wide[effect.columns].fillna("")
    return wide


def table7_indicator(robustness: pd.DataFrame) -> pd.DataFrame:
    """Table VII: the robustness indicator R of each conversion."""
    return indicator(robustness)


def _trajectory(attacks: pd.DataFrame) -> pd.DataFrame:
    """One row per (attack record, checkpoint) from the records' trajectory (the
    Boundary attack's ``facts["trajectory"]``, gathered as ";"-joined columns)."""
    prefix = "facts_trajectory_"
    if attacks.empty or f"{prefix}steps" not in attacks:
        return pd.DataFrame()
    columns = [c for c in attacks if c.startswith(prefix)]
    rows = []
    for _, record in attacks.dropna(subset=[f"{prefix}steps"]).iterrows():
        values = {c[len(prefix) :]: _numbers(record[c]) for c in columns}
        for i, steps in enumerate(values["steps"]):
            rows.append(
                {
                    **{k: record[k] for k in (*KEYS, "seed", "attack", "target", "n")},
                    **{k: v[i] for k, v in values.items() if len(v) > i},
                    "steps": int(steps),
                }
            )
    return pd.DataFrame(rows)


def _numbers(value: object) -> list[float]:
    """A list of a record, as gathered (";"-joined) or as a list."""
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    if pd.isna(value):  # type: ignore[call-overload]
        return []
    return [float(v) for v in str(value).split(";") if v != ""]


def table_boundary_steps(attacks: pd.DataFrame) -> pd.DataFrame:
    """The Boundary attack's distance against its steps: per attacked model and
    checkpoint, the median L2 and L-infinity distance of its examples (mean ± std of the
    seeds' medians), the share of inputs with an example within each bound (Wilson
    interval of the inputs pooled over seeds) and the CPU seconds per input so far."""
    frame = _trajectory(attacks)
    if frame.empty:
        return pd.DataFrame()
    frame["target"] = frame["target"].map(target_column)
    rows = []
    for key, group in _groups(frame, [*KEYS, "target", "steps"]):
        row: dict[str, object] = {
            **key,
            "seeds": group["seed"].nunique(),
            "n": int(group["n"].sum()),
            "median_l2": mean_std(group["median_l2"], ".3f"),
            "median_linf": mean_std(group["median_linf"], ".4f"),
        }
        n = int(group["n"].sum())
        for norm in BOUNDED:
            if f"k_{norm}" in group and group[f"k_{norm}"].notna().any():
                k = int(group[f"k_{norm}"].sum())
                row[f"epsilon_{norm}"] = _epsilon(attacks, key, norm)
                row[f"within_{norm}"] = f"{k / n:.3f} {interval(k, n)}"
        row["cpu_s_per_input"] = mean_std(group["cpu_seconds_per_input"], ".3f")
        rows.append(row)
    return pd.DataFrame(rows)


def _epsilon(attacks: pd.DataFrame, key: dict[str, object], norm: str) -> str:
    """The bound ``norm`` the model's Boundary attack was measured against, as printed."""
    column = f"settings_epsilon_{norm}"
    if column not in attacks:
        return ""
    values = attacks.loc[
        (attacks["model"] == key["model"]) & (attacks["attack"] == "boundary"), column
    ].dropna()
    return f"{values.iloc[0]:g}" if len(values) else ""


#: Bar colours: the original, then each format in registry order.
_COLOURS = ("0.35", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _panels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(attack, outcome) of each panel: every attack as it ran, then each bound of the
    attacks that record bounded outcomes."""
    attacks = [a for a in registry.ATTACKS if a in set(frame["attack"])]
    panels = [(attack, "any") for attack in attacks]
    for attack in attacks:
        rows = frame[frame["attack"] == attack]
        panels += [
            (attack, norm)
            for norm in BOUNDED
            if f"outcomes_{norm}_n" in rows and rows[f"outcomes_{norm}_n"].notna().any()
        ]
    return panels


def _panel_title(group: pd.DataFrame, attack: str, outcome: str) -> str:
    """The attack and its bound in the panel (per dataset where they differ)."""
    label = registry.attack(attack).label
    if outcome == "any" and registry.attack(attack).unbounded:
        return f"{label}, unbounded (original: 1 by construction)"
    column = f"outcomes_{outcome}_bound"
    if column not in group:
        return label
    bounds = group.dropna(subset=[column]).drop_duplicates(subset=[column])
    if len(bounds) <= 1:
        return f"{label}, {_first(group, column)}".rstrip(", ")
    datasets = bounds["model"].map(lambda m: registry.model(m).dataset)
    return f"{label}, " + "; ".join(f"{b} ({d})" for b, d in zip(bounds[column], datasets))


def _short(reasons: list[str]) -> str:
    if reasons and all("macOS" in r for r in reasons):
        return "macOS only"
    first = reasons[0] if reasons else "not run"
    first = first.rsplit("failed:", 1)[-1].strip()  # a runtime's "Load model ... failed: why"
    return first if len(first) <= 70 else first[:67] + "..."


def _attack_figure(robustness: pd.DataFrame, kind: str, png: Path, svg: Path) -> None:
    """Attack success before (original) and after conversion, per model/framework and
    format, one panel per attack and bound: the rate of the inputs pooled over seeds with
    its Wilson interval as error bars. Formats that ran nowhere are named once under the
    panels; a cell that failed where others ran is marked ×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from convstudy.stats import wilson

    frame = _of_kind(robustness, kind)
    panels = _panels(frame) if not frame.empty else []
    columns = 1 if len(panels) <= 1 else 2
    rows_n = max(1, -(-len(panels) // columns))
    fig, axes = plt.subplots(
        rows_n, columns, figsize=(6.4 * columns, 3.0 * rows_n + 0.9), squeeze=False
    )
    order = list(registry.FORMATS)
    formats = sorted(
        dict.fromkeys(frame["format"]) if not frame.empty else [],
        key=lambda f: order.index(f) if f in order else len(order),
    )
    ran_formats = [f for f in formats if (frame.loc[frame["format"] == f, "status"] == "ok").any()]
    bars = ["original", *ran_formats]
    colours = dict(zip(bars, _COLOURS))
    failed: dict[str, set[str]] = {}
    for ax, (attack, outcome) in zip(axes.flat, panels):
        runs = frame[frame["attack"] == attack]
        cells = list(dict.fromkeys(zip(runs["model"], runs["framework"])))
        width = 0.8 / len(bars)
        for i, (model, framework) in enumerate(cells):
            cell = runs[(runs["model"] == model) & (runs["framework"] == framework)]
            for j, bar in enumerate(bars):
                x = i + (j - (len(bars) - 1) / 2) * width
                rows = cell[cell["status"] == "ok"]
                if bar != "original":
                    rows = rows[rows["format"] == bar]
                    if rows.empty:  # ran for other cells, not for this one
                        ax.text(x, 0.02, "×", ha="center", va="bottom", color="0.3", fontsize=9)
                        failed.setdefault(bar, set()).add(f"{model}/{framework}")
                        continue
                elif not rows.empty:  # the original: one row per seed is enough
                    rows = rows.drop_duplicates(subset=["seed"])
                pooled = paired(rows, outcome)
                if pooled is None or pooled.n == 0:
                    continue
                k = pooled.k_original if bar == "original" else pooled.k_converted
                value = k / pooled.n
                low, high = wilson(k, pooled.n)
                ax.bar(x, value, width, color=colours[bar],
                       yerr=[[value - low], [high - value]], capsize=2,
                       error_kw={"elinewidth": 0.8, "ecolor": "0.15"})  # fmt: skip
        ax.set_xticks(np.arange(len(cells)))
        ax.set_xticklabels([f"{m}\n{f}" for m, f in cells], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(_panel_title(runs, attack, outcome), fontsize=9)
        ax.set_ylabel("success rate", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles = [Patch(color=colours[b], label=b) for b in bars]
    fig.legend(handles=handles, loc="upper center", ncol=len(bars), fontsize=8, frameon=False)
    notes = []
    not_run = [f for f in formats if f not in ran_formats]
    if not_run:
        reasons = frame.loc[frame["format"].isin(not_run), "reason"].dropna().unique().tolist()
        notes.append(f"not run here ({_short(reasons)}): {', '.join(not_run)}")
    for bar, where in failed.items():
        reasons = (
            frame.loc[(frame["format"] == bar) & (frame["status"] != "ok"), "reason"]
            .dropna().unique().tolist()
        )  # fmt: skip
        notes.append(f"× {bar} failed on {', '.join(sorted(where))} ({_short(reasons)})")
    if not panels:
        notes.append("no attack ran")
    fig.text(0.01, 0.005, "\n".join(notes), fontsize=7, va="bottom", ha="left")
    bottom = 0.02 + 0.025 * len(notes) * 3.4 / (3.0 * rows_n + 0.9)
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.35 / (3.0 * rows_n + 0.9)))
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
    attacked directly): inputs over all seeds, success (with the Wilson interval of the
    pooled inputs), perturbation size, queries and seconds per input (mean ± std over
    seeds)."""
    if "target" in attacks:
        attacks = attacks.assign(target=attacks["target"].map(target_column))
    by = [*KEYS, "attack", "target"] if "target" in attacks else [*KEYS, "attack"]
    table = summarise(
        attacks,
        by,
        {
            "success_rate": ".3f",
            "median_l2": ".3f",
            "median_linf": ".4f",
            "queries_per_input": ".0f",
            "seconds_per_input": ".3f",
        },
        {"success_rate": "n"},
    )
    table.insert(len(by) + 1, "n", attacks.groupby(by, sort=False)["n"].sum().values)
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
