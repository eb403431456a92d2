"""The generated results page (``python -m convstudy.report.pages``): its tables are the
run's own table files, its numbers come from the run's CSVs, and ``--check`` fails when the
page and the run differ."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from convstudy.report import report_contents, write_table
from convstudy.report.pages import SECTIONS, main, page


def markdown_tables(text: str) -> list[str]:
    """Every Markdown table of ``text``: each run of consecutive lines starting with '|'."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append("\n".join(block))
            block = []
    return tables


def assert_page_matches_run(text: str, report: Path) -> None:
    """Every table on the page is one of the run's Markdown tables, each of the run's tables
    that the page knows is on it verbatim, and it has as many rows as the run's CSV."""
    run_tables = {md.stem: md.read_text().strip() for md in report.glob("*.md")}
    known = {stem for section in SECTIONS for stem in section.tables}
    for table in markdown_tables(text):
        assert any(table in own for own in run_tables.values()), table[:300]
    for stem, own in run_tables.items():
        if stem not in known:
            continue
        assert own in text, f"{stem}.md is not on the page verbatim"
        csv = report / f"{stem}.csv"
        if csv.exists():
            (table,) = markdown_tables(own)
            assert len(table.splitlines()) - 2 == len(pd.read_csv(csv)), stem


def change_first_cell(path: Path) -> None:
    """Change the last cell of the first data row of the first table in ``path``."""
    lines = path.read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("|"))
    row += 2  # header and alignment lines
    cells = lines[row].split("|")
    cells[-2] = " 12345.6789 "
    lines[row] = "|".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A minimal report folder written by the study's own table writer."""
    out = tmp_path / "results" / "report"
    out.mkdir(parents=True)
    accuracy = pd.DataFrame(
        {
            "model": ["lenet5", "vgg16"],
            "framework": ["torch", "keras"],
            "original": ["0.9635 ± 0.0049", "0.3477 ± 0.0166"],
            "onnx": ["0.9635 ± 0.0049", "0.3477 ± 0.0166"],
            "onnx-fp16": ["0.9600 ± 0.0049", "not run"],
        }
    )
    write_table(accuracy, out, "table1_accuracy", "Table I: accuracy")
    errors = pd.DataFrame(
        {
            "model": ["lenet5", "vgg16", "vgg16"],
            "framework": ["torch", "torch", "keras"],
            "format": ["onnx", "onnx+onnx-fp16", "onnx+onnx-fp16"],
            "abs_error_logit": ["5.84e-07 ± 4.46e-08", "8.16e-04 ± 1.21e-04", "not run"],
            "disagreement": ["0.0000 ± 0.0000", "0.0039 ± 0.0055", "not run"],
            "note": ["", "", "Fail: refused"],
        }
    )
    write_table(errors, out, "table2_errors", "Table II: output errors")
    indicator = pd.DataFrame(
        {
            "model": ["lenet5", "vgg16"],
            "framework": ["torch", "keras"],
            "format": ["onnx", "onnx-fp16"],
            "R": [0.0, 1.0],
        }
    )
    write_table(indicator, out, "table7_indicator", "Table VII: robustness indicator")
    paths = pd.DataFrame(
        {
            "model": ["lenet5", "gru"],
            "source": ["torch", "torch"],
            "path": ["onnx", "onnx+keras"],
            "status": ["ok", "error"],
            "disagreement": ["0.25", "not run"],
            "max_abs_error_logit": ["6e-06", "not run"],
        }
    )
    write_table(paths, out, "matrix_paths", "Conversion matrix")
    tables = out.parent / "tables"
    tables.mkdir()
    pd.DataFrame(
        {"study_config_hash": ["abc123def456"], "version_torch": ["2.13.0"], "host_cpu": ["X"]}
    ).to_csv(tables / "predictions.csv", index=False)
    return out


def test_page_holds_the_tables_and_numbers_of_the_run(report: Path) -> None:
    text = page(report)
    assert_page_matches_run(text, report)
    assert "Largest label disagreement: 0.0039 ± 0.0055 (vgg16, torch, onnx+onnx-fp16)." in text
    assert "Conversions that changed at least one label: 1 of 2." in text
    assert "differs from their original's in Table I: 1 of 3." in text
    assert "Largest accuracy difference: 0.0035 (lenet5, torch, onnx-fp16)." in text
    assert "Largest label disagreement of a path's final model: 0.25 (lenet5, torch, onnx)." in text
    assert "largest R 1.0 (vgg16, keras, onnx-fp16)" in text
    assert "Paths: 2 (1 ok, 1 error)" in text
    assert "`abc123def456`" in text and "torch 2.13.0" in text
    # sections without tables in the run are left out
    assert "## Fault localisation and repair" not in text
    assert "## RQ1: prediction fidelity" in text


def test_check_fails_on_a_changed_cell(
    report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.md"
    assert main([str(report), "--check", "--out", str(out)]) == 1  # no page yet
    assert main([str(report), "--out", str(out)]) == 0
    assert main([str(report), "--check", "--out", str(out)]) == 0
    edited = tmp_path / "edited.md"
    shutil.copy(out, edited)
    change_first_cell(edited)
    with pytest.raises(AssertionError):  # the comparison the tiny-run test makes
        assert_page_matches_run(edited.read_text(), report)
    assert main([str(report), "--check", "--out", str(edited)]) == 1
    change_first_cell(report / "table2_errors.md")
    capsys.readouterr()
    assert main([str(report), "--check", "--out", str(out)]) == 1
    message = capsys.readouterr().err
    assert len(message.strip().splitlines()) == 1 and "differ" in message


def test_every_report_table_and_figure_has_a_place_on_the_page() -> None:
    placed = {stem for s in SECTIONS for stem in (*s.tables, *s.figures)}
    assert set(report_contents()) <= placed


@pytest.mark.slow
def test_page_of_the_tiny_run_equals_its_tables(tiny_run: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    for folder in ("report", "tables"):
        shutil.copytree(tiny_run / "results" / folder, results / folder)
    report = results / "report"
    out = tmp_path / "results.md"
    assert main([str(report), "--out", str(out)]) == 0
    text = out.read_text()
    assert_page_matches_run(text, report)
    for stem in ("table1_accuracy", "table7_indicator", "matrix_paths", "localizations"):
        assert (report / f"{stem}.md").read_text().strip() in text
    assert "Conversions that changed at least one label:" in text
    assert main([str(report), "--check", "--out", str(out)]) == 0
    # a changed cell in the page, and a changed cell in the run, are both caught
    edited = tmp_path / "edited.md"
    shutil.copy(out, edited)
    change_first_cell(edited)
    assert main([str(report), "--check", "--out", str(edited)]) == 1
    change_first_cell(report / "table1_accuracy.md")
    assert main([str(report), "--check", "--out", str(out)]) == 1
