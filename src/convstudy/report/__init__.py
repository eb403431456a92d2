"""The study's report: its tables (CSV and Markdown) and figures, from the gathered tables."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

import pandas as pd

from convstudy.atomic import atomic_output
from convstudy.report.figures import figure2_training
from convstudy.report.robustness import (
    INDICATOR_NOTE,
    figure3_attack_cnn,
    figure4_attack_rnn,
    table5_robustness_cnn,
    table6_robustness_rnn,
    table7_indicator,
    table_attack_cost,
    table_boundary_bounded,
    table_boundary_steps,
    table_rq3_tests,
)
from convstudy.report.tables import table1_accuracy, table2_errors, table3_time, table4_size

logger = logging.getLogger(__name__)

#: Each report table: its file stem, title, the gathered table it is made from, and how.
TABLES = {
    "table1_accuracy": (
        (
            "Table I: accuracy (mean ± std over seeds, or n = 1; Wilson 95 % interval of the "
            "inputs pooled over seeds)"
        ),
        "predictions",
        table1_accuracy,
    ),
    "table2_errors": (
        (
            "Table II: output errors and label disagreement (disagreement with its Wilson 95 % "
            "interval)"
        ),
        "comparisons",
        table2_errors,
    ),
    "table3_time": ("Table III: load and inference time (s)", "predictions", table3_time),
    "table4_size": ("Table IV: size on disk (MB)", "predictions", table4_size),
}
#: Each figure: its file stem, the gathered table it is drawn from, and how.
FIGURES = {"figure2_training": ("training", figure2_training)}
#: RQ3's tables and figures, written by the robustness report.
ROBUSTNESS_TABLES = {
    "table5_robustness_cnn": (
        (
            "Table V: CNNs under FGSM and Boundary, original vs converted (rates: mean ± std "
            "over seeds, or n = 1, and the Wilson 95 % interval of the pooled inputs; McNemar's "
            "exact test)"
        ),
        "robustness",
        table5_robustness_cnn,
    ),
    "table6_robustness_rnn": (
        (
            "Table VI: RNNs under the genetic word-substitution attack, original vs converted "
            "(as Table V)"
        ),
        "robustness",
        table6_robustness_rnn,
    ),
    "table7_indicator": (
        (
            "Table VII: robustness indicator R (smaller is better), beside |S_c - S_o| with its "
            "95 % interval"
        ),
        "robustness",
        table7_indicator,
    ),
    "boundary_bounded": (
        "Boundary attack: success within stated bounds, original vs converted",
        "robustness",
        table_boundary_bounded,
    ),
    "boundary_steps": (
        "Boundary attack: distance reached against steps",
        "attacks",
        table_boundary_steps,
    ),
    "rq3_tests": (
        "RQ3: S_o against S_c pooled over models, frameworks and seeds (McNemar's exact test)",
        "robustness",
        table_rq3_tests,
    ),
    "attack_cost": (
        "Attack cost: the original models, and converted models attacked directly",
        "attacks",
        table_attack_cost,
    ),
}
#: A note printed under a table (Markdown and HTML).
NOTES = {"table7_indicator": INDICATOR_NOTE}
ROBUSTNESS_FIGURES = {
    "figure3_attack_cnn": ("robustness", figure3_attack_cnn),
    "figure4_attack_rnn": ("robustness", figure4_attack_rnn),
}


#: The ablation's tables and figure (written by the ``ablation_init`` rule when the config
#: asks for it).
ABLATION_TABLES = ("ablation_init", "ablation_init_gaps")
ABLATION_FIGURE = "ablation_init_curves"


def report_contents() -> dict[str, str]:
    """Every table and figure that the study's report can hold: file stem -> "table" or
    "figure" (the HTML report and its test read this list)."""
    from convstudy.report.localization import TABLE as LOCALIZATION_TABLE
    from convstudy.report.matrix import FIGURE as MATRIX_FIGURE
    from convstudy.report.matrix import TITLES as MATRIX_TABLES

    tables = [*TABLES, *ROBUSTNESS_TABLES, *ABLATION_TABLES, *MATRIX_TABLES, LOCALIZATION_TABLE]
    figures = [*FIGURES, *ROBUSTNESS_FIGURES, ABLATION_FIGURE, MATRIX_FIGURE]
    return {**dict.fromkeys(tables, "table"), **dict.fromkeys(figures, "figure")}


def write_table(table: pd.DataFrame, out_dir: Path, name: str, title: str, note: str = "") -> None:
    """Write ``table`` as ``<name>.csv``, ``<name>.md`` and ``<name>.html`` (the last two
    with its title and ``note``; the HTML page is what the Snakemake report shows)."""
    with atomic_output(out_dir / f"{name}.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(out_dir / f"{name}.md") as tmp:
        footer = f"\n{note}\n" if note else ""
        tmp.write_text(f"**{title}**\n\n" + table.to_markdown(index=False) + "\n" + footer)
    with atomic_output(out_dir / f"{name}.html") as tmp:
        tmp.write_text(html_page(table, name, title, note))
    logger.info("wrote %s (%d rows)", name, len(table))


def write_report(tables: dict[str, str | Path], out_dir: str | Path, *, part: str = "main") -> None:
    """Write the tables and figures of ``part`` ("main": Tables I-IV and Figure 2;
    "robustness": RQ3's) into ``out_dir`` from the gathered ``tables`` (by name)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {name: _read(path) for name, path in tables.items()}
    table_set, figure_set = (
        (TABLES, FIGURES) if part == "main" else (ROBUSTNESS_TABLES, ROBUSTNESS_FIGURES)
    )
    for name, (title, source, make) in table_set.items():
        write_table(make(frames[source]), out_dir, name, title, NOTES.get(name, ""))
    for name, (source, draw) in figure_set.items():
        draw(frames[source], out_dir / f"{name}.png", out_dir / f"{name}.svg")


def html_page(table: pd.DataFrame, name: str, title: str, note: str = "") -> str:
    """A self-contained HTML page: the title, the table (``id`` = ``name``) and a note."""
    body = table.to_html(index=False, table_id=name, na_rep="", border=0, escape=True)
    style = (
        "body{font-family:sans-serif;font-size:13px}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{style}</style></head>\n<body><h3>{escape(title)}</h3>\n{body}\n"
        + (f"<p>{escape(note)}</p>\n" if note else "")
        + "</body></html>\n"
    )


def _read(path: str | Path) -> pd.DataFrame:
    """A gathered table; an empty file (no rows) as an empty frame."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
