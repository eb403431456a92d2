"""The CoreML-on-a-Mac command, checked on Linux up to the CoreML runtime call: its targets
come from the run's CoreML model folders, and its Snakemake command remakes only the
CoreML predictions, replays, comparisons and robustness records, nothing upstream."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import TINY, job_counts

from convstudy import registry
from convstudy.benchmark import snakemake_command
from convstudy.mac import MAC_RULES, is_mac_route, mac_command, mac_targets


def test_mac_routes_are_those_run_by_coreml() -> None:
    assert is_mac_route("coreml-fp32") and is_mac_route("coreml-fp16")
    assert not is_mac_route("onnx") and not is_mac_route("onnx+onnx-fp16")
    assert all(
        is_mac_route(name) == (f.runtime == "coreml") for name, f in registry.FORMATS.items()
    )


@pytest.mark.slow
def test_mac_command_remakes_only_the_coreml_jobs(tiny_run: Path) -> None:
    targets = mac_targets(tiny_run)
    predictions = [t for t in targets.forced if t.startswith("results/predictions/")]
    replays = [t for t in targets.forced if "/replay/" in t]
    coreml = sorted(tiny_run.glob("results/converted/*/*/seed*/coreml*"))
    assert len(predictions) == len(coreml) > 0 and replays
    assert all((tiny_run / t).exists() for t in targets.forced + targets.downstream)

    # the workflow's arguments (snakefile, configs, directory), then the Mac's own
    base = snakemake_command(tiny_run, [TINY], "-n")[3:]
    done = subprocess.run(mac_command(targets, base), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    counts = job_counts(done.stdout)
    assert set(counts) <= set(MAC_RULES), counts
    assert counts["predict"] == len(predictions) and counts["replay"] == len(replays)
    assert counts["compare"] == len(predictions)
