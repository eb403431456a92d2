"""Rule ``louloudakis_report``: Louloudakis et al.'s grid (their Figure 1), the published
values beside ours and the case study, from the pairs' comparisons, the conversion records
and the localizations (:mod:`convstudy.report.louloudakis`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convstudy.report import write_table
from convstudy.report.louloudakis import (
    case_table,
    figure,
    grid_table,
    models_table,
    pair_rows,
    published_table,
)

TITLES = {
    "louloudakis_models": "The grid's models: the weights each source model has, and its "
    "accuracy on the evaluation images (95% Wilson interval) against the floor",
    "louloudakis_grid": "Louloudakis et al.'s grid: labels changed by each conversion, source "
    "against target, on the same images (95% Wilson interval); crashed pairs marked",
    "louloudakis_published": "Louloudakis et al.: the published values beside ours",
    "louloudakis_case": "The case study, every path of the pair: label change, what the "
    "localization names, and the repair",
}


def run(
    *,
    pairs: Sequence[Mapping[str, str]],
    comparisons: Sequence[str | Path],
    localizations: Sequence[str | Path],
    trained: Sequence[str | Path],
    originals: Sequence[str | Path],
    floor: Mapping[str, float],
    case: Mapping[str, str],
    converted: str | Path,
    out_dir: str | Path,
) -> None:
    """Write the models, grid, published and case tables (Markdown, CSV, HTML) and
    Figure 1."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_key: dict[str, Path] = {}
    for path in map(Path, comparisons):
        model, framework, seed, base, route = path.parts[-5:]
        by_key[
            "/".join(
                (model, framework, seed.removeprefix("seed"), base, route.removesuffix(".json"))
            )
        ] = path
    rows = pair_rows(pairs, by_key, Path(converted))
    rows.to_csv(out_dir / "louloudakis_pairs.csv", index=False)
    tables: dict[str, Any] = {
        "louloudakis_models": models_table(
            [Path(p) for p in trained], [Path(p) for p in originals], floor
        ),
        "louloudakis_grid": grid_table(rows),
        "louloudakis_published": published_table(rows),
        "louloudakis_case": case_table(rows, [Path(p) for p in localizations], case),
    }
    for name, table in tables.items():
        write_table(table, out_dir, name, TITLES[name])
    figure(rows, out_dir / "louloudakis_grid.png")
