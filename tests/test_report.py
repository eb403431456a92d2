"""``snakemake --report`` of the tiny run, rendered in headless Chromium: every table and
figure of the study (the list comes from the package, so a new one is checked too) is
shown, each with its caption."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TINY, as_root, snakemake

from convstudy.report import report_contents

INSTALL = REPO / "scripts" / "install-browser.sh"


@pytest.fixture(scope="session")
def rendered(tiny_run: Path) -> dict[str, dict[str, Any]]:
    command = as_root(["bash", str(INSTALL)]) or ["bash", str(INSTALL)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1200)
    report_page = pytest.importorskip("report_page", reason="selenium is not installed")
    if not report_page.browser_present():
        pytest.skip(f"chromium and chromium-driver cannot be installed: {done.stderr[-500:]}")
    report = tiny_run / "report.html"
    made = snakemake(tiny_run, "--cores", "1", "--report", str(report), configfiles=[TINY])
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    results: dict[str, dict[str, Any]] = report_page.rendered_results(report)
    return results


def caption(panel: str) -> str:
    """The caption in a result's information panel (between DESCRIPTION and SIZE)."""
    found = re.search(
        r"^description\n(.*?)\nsize\n", panel, re.IGNORECASE | re.DOTALL | re.MULTILINE
    )
    return found[1].strip() if found else ""


@pytest.mark.slow
def test_every_table_and_figure_is_shown_with_its_caption(
    tiny_run: Path, rendered: dict[str, dict[str, Any]]
) -> None:
    contents = report_contents()
    made = {
        stem: kind
        for stem, kind in contents.items()
        if (
            tiny_run / "results" / "report" / f"{stem}.{'csv' if kind == 'table' else 'png'}"
        ).exists()
    }
    # the tiny config makes every table and figure of the study
    assert made == contents
    captions = []
    for stem, kind in made.items():
        path = f"results/report/{stem}.{'html' if kind == 'table' else 'png'}"
        assert path in rendered, f"{path} is not in the rendered report: {sorted(rendered)}"
        shown = rendered[path]
        assert shown["ok"], shown
        if kind == "table":
            assert shown["kind"] == "html" and shown["tables"].get(stem, 0) > 0, shown
        else:
            assert shown["kind"] == "img", shown
        captions.append(caption(shown["panel"]))
        assert len(captions[-1]) > 80, f"{path}: caption {captions[-1]!r}"
        # a caption that is not valid reStructuredText renders docutils' error messages
        assert not re.search(r"System Message|Undefined substitution|backlink", captions[-1]), (
            f"{path}: {captions[-1]!r}"
        )
    assert len(set(captions)) == len(captions)  # one caption per table and figure
