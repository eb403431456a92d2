"""The results page of a run, written from that run's ``results/report/`` folder.

    python -m convstudy.report.pages RESULTS_REPORT_DIR [--out docs/results.md] [--check]

Every table on the page is the run's own Markdown file, included verbatim; every sentence
that states a number is computed here from the run's CSV files. ``--check`` compares an
existing page with what the run's files give and exits 1, with one line, when they differ.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

COMMAND = "python -m convstudy.report.pages"
#: Package versions named in the page's provenance line (``version_<name>`` columns).
PACKAGES = ("torch", "tensorflow-cpu", "keras", "onnxruntime", "tf2onnx", "coremltools")

Facts = Callable[["Run"], list[str]]


class Run:
    """The files of one run's ``results/report/`` folder (and its sibling ``tables/``)."""

    def __init__(self, report_dir: Path) -> None:
        if not report_dir.is_dir():
            raise FileNotFoundError(f"{report_dir}: not a folder")
        self.report_dir = report_dir
        self.tables_dir = report_dir.parent / "tables"

    def markdown(self, stem: str) -> str | None:
        path = self.report_dir / f"{stem}.md"
        return path.read_text().strip() if path.exists() else None

    def csv(self, stem: str) -> pd.DataFrame | None:
        """A report table with every cell as written in the file (text, never re-parsed)."""
        path = self.report_dir / f"{stem}.csv"
        if not path.exists():
            return None
        return pd.read_csv(path, dtype=str, keep_default_na=False)

    def has(self, stem: str) -> bool:
        return (self.report_dir / stem).exists()

    def date(self) -> str:
        """The day (UTC) the newest file of the report folder was written."""
        newest = max(p.stat().st_mtime for p in self.report_dir.iterdir())
        return datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d")


def number(cell: str) -> float | None:
    """The mean of a report cell (``"0.96 ± 0.01"``, ``"0.5"``); None for text or NaN."""
    try:
        value = float(cell.split(" ± ")[0])
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _where(row: pd.Series, columns: Sequence[str]) -> str:
    return ", ".join(str(row[c]) for c in columns if c in row and row[c] != "")


def _largest(frame: pd.DataFrame, column: str, keys: Sequence[str]) -> tuple[str, str] | None:
    """The cell text of the largest value of ``column`` and where it is; None when no value
    is above zero (then no cell stands out)."""
    values = frame[column].map(number).dropna() if column in frame else pd.Series(dtype=float)
    if values.empty or values.max() <= 0:
        return None
    row = frame.loc[values.idxmax()]
    return str(row[column]), _where(row, keys)


def _counted(frame: pd.DataFrame, column: str) -> str:
    counts = frame[column].replace("", "(none)").value_counts()
    return ", ".join(f"{n} {value}" for value, n in counts.items())


def _rq1(run: Run) -> list[str]:
    facts = []
    accuracy = run.csv("table1_accuracy")
    if accuracy is not None and "original" in accuracy:
        formats = [c for c in accuracy if c not in ("model", "framework", "original")]
        gaps = [
            (abs(conv - orig), f"{row['model']}, {row['framework']}, {column}")
            for _, row in accuracy.iterrows()
            for column in formats
            if (orig := number(row["original"])) is not None
            and (conv := number(row[column])) is not None
        ]
        changed = [gap for gap in gaps if gap[0] > 0]
        facts.append(
            f"Converted models whose mean accuracy differs from their original's in Table I: "
            f"{len(changed)} of {len(gaps)}."
        )
        if changed:
            gap, where = max(changed)
            facts.append(f"Largest accuracy difference: {gap:.4f} ({where}).")
    errors = run.csv("table2_errors")
    if errors is not None and "disagreement" in errors:
        ran = errors[errors["disagreement"].map(number).notna()]
        relabelled = ran[ran["disagreement"].map(number) > 0]
        facts.append(
            f"Conversions compared: {len(ran)} of {len(errors)} rows of Table II; "
            f"{len(errors) - len(ran)} did not run (the reason is in the row's `note`)."
        )
        facts.append(
            f"Conversions that changed at least one label: {len(relabelled)} of {len(ran)}."
        )
        keys = ("model", "framework", "format")
        for column, what in (
            ("disagreement", "label disagreement"),
            ("abs_error_logit", "mean absolute logit error"),
        ):
            if largest := _largest(ran, column, keys):
                facts.append(f"Largest {what}: {largest[0]} ({largest[1]}).")
    return facts


def _rq2(run: Run) -> list[str]:
    times = run.csv("table3_time")
    if times is None or "inference_median" not in times:
        return []
    ran = times[times["inference_median"].map(number).notna()]
    return [f"Targets timed: {len(ran)} of {len(times)} rows of Table III."]


def _rq3(run: Run) -> list[str]:
    facts = []
    tables = [run.csv(s) for s in ("table5_robustness_cnn", "table6_robustness_rnn")]
    frames = [t for t in tables if t is not None and "success_converted" in t]
    if frames:
        cells = pd.concat(frames, ignore_index=True)
        before = cells["success_original"].map(number)
        after = cells["success_converted"].map(number)
        ran = cells[before.notna() & after.notna()].assign(delta=(after - before).abs())
        moved = ran[ran["delta"] > 0]
        facts.append(
            f"Attacked cells where conversion changed the attack's success (S_c ≠ S_o): "
            f"{len(moved)} of {len(ran)} that ran ({len(cells) - len(ran)} did not run)."
        )
        if not moved.empty:
            row = moved.loc[moved["delta"].idxmax()]
            facts.append(
                f"Largest |S_c − S_o|: {row['delta']:.3f} "
                f"({_where(row, ('model', 'framework', 'attack', 'format'))})."
            )
        if "degenerate" in cells:
            facts.append(f"Cells marked degenerate: {(cells['degenerate'] == 'True').sum()}.")
    indicator = run.csv("table7_indicator")
    if indicator is not None and (
        largest := _largest(indicator, "R", ("model", "framework", "format"))
    ):
        zero = (indicator["R"].map(number) == 0).sum()
        facts.append(
            f"Robustness indicator: R = 0 for {zero} of {len(indicator)} cells; largest R "
            f"{largest[0]} ({largest[1]})."
        )
    return facts


def _ablation(run: Run) -> list[str]:
    gaps = run.csv("ablation_init_gaps")
    if gaps is None or "conclusion" not in gaps:
        return []
    return [f"{row['model']}: {row['conclusion']}." for _, row in gaps.iterrows()]


def _paths(stem: str) -> Facts:
    def facts(run: Run) -> list[str]:
        paths = run.csv(stem)
        if paths is None or not {"status", "disagreement"} <= set(paths):
            return []
        ran = paths[paths["disagreement"].map(number).notna()]
        changed = ran[ran["disagreement"].map(number) > 0]
        found = [
            (
                f"Paths: {len(paths)} ({_counted(paths, 'status')}); paths whose final model "
                f"changed at least one label: {len(changed)} of {len(ran)} evaluated."
            )
        ]
        keys = ("model", "source", "path")
        for column, what in (
            ("disagreement", "label disagreement"),
            ("max_abs_error_logit", "`max_abs_error_logit`"),
        ):
            if largest := _largest(ran, column, keys):
                found.append(
                    f"Largest {what} of a path's final model: {largest[0]} ({largest[1]})."
                )
        return found

    return facts


def _versions(run: Run) -> list[str]:
    table = run.csv("converter_versions")
    if table is None or "status" not in table:
        return []
    return [f"Release hops: {len(table)} ({_counted(table, 'status')})."]


def _localization(run: Run) -> list[str]:
    table = run.csv("localizations")
    if table is None:
        return []
    if "status" not in table:
        return [f"{str(note)[:1].upper()}{str(note)[1:]}." for note in table.iloc[:, 0]]
    facts = [f"Converted models localized: {len(table)} ({_counted(table, 'status')})."]
    if {"first_hop", "target_route"} <= set(table):
        last = (table["first_hop"] == table["target_route"]).sum()
        facts.append(f"First divergent hop is the route's last hop: {last} of {len(table)}.")
    if "stage" in table:
        facts.append(f"Stage of the first divergence: {_counted(table, 'stage')}.")
    if "repair_success" in table:
        repaired = (table["repair_success"] == "True").sum()
        facts.append(f"Repairs reported successful: {repaired} of {len(table)}.")
    return facts


def _louloudakis(run: Run) -> list[str]:
    pairs = run.csv("louloudakis_pairs")
    if pairs is None or not {"status", "disagreement"} <= set(pairs):
        return []
    ran = pairs[pairs["disagreement"].map(number).notna()]
    changed = ran[ran["disagreement"].map(number) > 0]
    counted = _counted(pairs, "status")
    facts = [
        (
            f"Conversions (every path of every pair): {len(pairs)} ({counted}); that changed "
            f"at least one label: {len(changed)} of {len(ran)} evaluated."
        )
    ]
    if largest := _largest(ran, "disagreement", ("model", "source", "target", "path")):
        facts.append(f"Largest label change: {float(largest[0]):.1%} ({largest[1]}).")
    models = run.csv("louloudakis_models")
    if models is None or "above_floor" not in models:
        return facts
    flag = models["above_floor"].astype(str)
    published = flag.str.startswith("n/a")  # ImageNet classifiers: no floor applies
    if published.any():
        facts.append(f"Source models with the published ImageNet weights: {published.sum()}.")
    floored, below = models[~published], models[~published & (flag != "True")]
    if len(floored):
        facts.append(
            f"Source models at or above the accuracy floor: {len(floored) - len(below)} of "
            f"{len(floored)}"
            + (
                f" (below: {', '.join(below['model'] + ' ' + below['framework'])})"
                if len(below)
                else ""
            )
            + "."
        )
    return facts


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    tables: tuple[str, ...]
    figures: tuple[str, ...]
    facts: Facts


SECTIONS = (
    Section(
        "RQ1: prediction fidelity",
        "Accuracy of each original model in its framework and of each converted model in its "
        "runtime (Table I); output errors and label disagreement of each conversion against "
        "its original on the same inputs (Table II). Mean ± std over seeds.",
        ("table1_accuracy", "table2_errors"),
        ("figure2_training",),
        _rq1,
    ),
    Section(
        "RQ2: cost",
        "Load and inference time (median and IQR of the repeats, seconds; Table III) and "
        "size on disk as saved and weights only (MB; Table IV).",
        ("table3_time", "table4_size"),
        (),
        _rq2,
    ),
    Section(
        "RQ3: adversarial robustness",
        "Attacks run on the original model; their adversarial inputs are replayed on each "
        "converted model (Tables V and VI); the robustness indicator R (Table VII, smaller "
        "is better), McNemar's test of each replay against its original, Boundary's "
        "distances per step checkpoint and its success within the distance bound, and the "
        "cost of each attack.",
        (
            "table5_robustness_cnn",
            "table6_robustness_rnn",
            "table7_indicator",
            "rq3_tests",
            "boundary_steps",
            "boundary_bounded",
            "attack_cost",
        ),
        ("figure3_attack_cnn", "figure4_attack_rnn"),
        _rq3,
    ),
    Section(
        "Initialisation ablation",
        "Validation accuracy per epoch of PyTorch and Keras models from their own "
        "initialisers, from each other's initial weights, and of PyTorch with Adam's epsilon "
        "placed as Keras places it: each arm's peak and last epoch, and the PyTorch - Keras "
        "gaps with 95% t-intervals over seeds.",
        ("ablation_init", "ablation_init_gaps"),
        ("ablation_init_curves",),
        _ablation,
    ),
    Section(
        "Conversion matrix",
        "Every path's final model against its source model (one row per path), and every hop.",
        ("matrix_paths", "matrix_hops"),
        ("matrix_heatmap",),
        _paths("matrix_paths"),
    ),
    Section(
        "Brought models",
        "The conversion matrix of the models named in `matrix.sources`.",
        ("matrix_sources", "matrix_sources_hops"),
        (),
        _paths("matrix_sources"),
    ),
    Section(
        "Converter releases",
        "Each release listed in `versions.converters` beside the pinned one.",
        ("converter_versions",),
        (),
        _versions,
    ),
    Section(
        "Fault localisation and repair",
        "Every converted model whose comparison with its original exceeded "
        "`localization.trigger`: the first divergent hop and layer, and the repair.",
        ("localizations",),
        (),
        _localization,
    ),
    Section(
        "Louloudakis et al.'s grid",
        "The source models' weights and accuracy; each architecture as a source in PyTorch, "
        "Keras, TensorFlow and TFLite, converted to each of the other three (label change of "
        "the target against its source, or the converter's error), beside the published "
        "Figure 1; the case study localized and repaired.",
        ("louloudakis_models", "louloudakis_grid", "louloudakis_published", "louloudakis_case"),
        ("louloudakis_grid",),
        _louloudakis,
    ),
)


#: The study's results page, the default of ``--out``.
RESULTS_PAGE = Path("docs/results.md")


def provenance(run: Run) -> str:
    """One line: when the run's report was written, its config hash, host and packages."""
    parts = [f"report files written on {run.date()} (UTC)"]
    path = run.tables_dir / "predictions.csv"
    if path.exists():
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        hashes = sorted(set(rows.get("study_config_hash", pd.Series(dtype=str))) - {""})
        if hashes:
            parts.append("study config hash " + ", ".join(f"`{h}`" for h in hashes))
        host = [rows[c].iloc[0] for c in ("host_platform", "host_machine", "host_cpu") if c in rows]
        if host and len(rows):
            parts.append("host " + " ".join(host))
        versions = [
            f"{name} {'/'.join(sorted(set(rows[f'version_{name}'])))}"
            for name in PACKAGES
            if f"version_{name}" in rows
        ]
        if versions:
            parts.append("packages " + ", ".join(versions))
    return "Run: " + "; ".join(parts) + "."


def page(report_dir: Path, out: str = str(RESULTS_PAGE)) -> str:
    """The results page of the run whose report folder is ``report_dir``, to be written to
    ``out`` (named in the page's note on how it is made)."""
    run = Run(report_dir)
    lines = [
        "# Results of a run",
        "",
        (
            f"<!-- Generated by `{COMMAND} RESULTS_REPORT_DIR --out {out}` from a "
            "run's results/report/ folder. Do not edit: regenerate. -->"
        ),
        "",
        (
            "Every table below is the run's own Markdown table from `results/report/`, "
            "unchanged; every number in the text is computed from the run's CSV tables by "
            f"`{COMMAND}`. The figures are written by the run to `results/report/`; they are "
            "not copied here. What each table and column means: [workflow.md](workflow.md)."
        ),
        "",
        provenance(run),
    ]
    for section in SECTIONS:
        tables = [md for stem in section.tables if (md := run.markdown(stem)) is not None]
        if not tables:
            continue
        lines += ["", f"## {section.title}", "", section.text]
        if facts := section.facts(run):
            lines += ["", *(f"- {fact}" for fact in facts)]
        figures = [f"`results/report/{f}.png`" for f in section.figures if run.has(f"{f}.png")]
        if figures:
            lines += ["", "Figures of the run: " + ", ".join(figures) + "."]
        for table in tables:
            lines += ["", table]
    return "\n".join(lines) + "\n"


def difference(expected: str, actual: str) -> str | None:
    """One line naming how ``actual`` differs from ``expected``; None when equal."""
    if expected == actual:
        return None
    want, have = expected.splitlines(), actual.splitlines()
    differing = sum(a != b for a, b in zip(want, have)) + abs(len(want) - len(have))
    first = next(
        (i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have))
    )
    got = have[first][:60] if first < len(have) else "(end of page)"
    wanted = want[first][:60] if first < len(want) else "(end of page)"
    return f"{differing} line(s) differ, first at line {first + 1}: {got!r}, expected {wanted!r}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, help="a run's results/report/ folder")
    parser.add_argument("--out", type=Path, default=RESULTS_PAGE, help="the page")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the page differs from the run's files"
    )
    args = parser.parse_args(argv)
    try:
        expected = page(args.report_dir, str(args.out))
    except (OSError, ValueError) as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 2
    if args.check:
        if not args.out.exists():
            print(f"{args.out}: missing; expected the page of {args.report_dir}", file=sys.stderr)
            return 1
        found = difference(expected, args.out.read_text())
        if found:
            print(f"{args.out}: differs from {args.report_dir}: {found}", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
