"""Converter releases side by side: a release in its own folder shadows the pinned one for
one job, and the workflow converts, predicts and compares each release's hops."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, job_counts, run_python, snakemake

from convstudy.envs import CHECK_ENV_VAR
from convstudy.errors import ConvstudyError
from convstudy.jobs.convert_version import activate

#: An older release of the Keras -> ONNX converter than the pinned 1.17.0.
OLD_TF2ONNX = "1.16.1"


def _fake_release(folder: Path, name: str, version: str) -> Path:
    """A minimal installed distribution ``name`` ``version`` (module ``name``) in ``folder``."""
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (folder / f"{name}.py").write_text(f"RELEASE = {version!r}\n")
    return folder


def test_activate_puts_the_release_first(tmp_path: Path) -> None:
    folder = _fake_release(tmp_path / "env", "convstudy_fake_converter", "2.0")
    script = (
        "import sys\n"
        "from convstudy.jobs.convert_version import activate\n"
        "activate(sys.argv[1], 'convstudy_fake_converter', '2.0')\n"
        "import convstudy_fake_converter as m\n"
        "print(m.RELEASE)\n"
    )
    assert run_python(script, str(folder)) == ["2.0"]


def test_activate_refuses_a_wrong_or_late_release(tmp_path: Path) -> None:
    folder = _fake_release(tmp_path / "env", "convstudy_fake_converter", "2.0")
    with pytest.raises(ConvstudyError, match="no convstudy_fake_converter 3.0"):
        activate(folder, "convstudy_fake_converter", "3.0")
    late = _fake_release(tmp_path / "late", "json", "9.9")
    with pytest.raises(ConvstudyError, match="imported before its release"):
        activate(late, "json", "9.9")  # json is imported already: too late to shadow it


def test_dry_run_counts_the_release_jobs(tmp_path: Path, data_dir: Path) -> None:
    releases = tmp_path / "versions.yaml"
    releases.write_text(f'versions: {{seeds: [0], converters: {{tf2onnx: ["{OLD_TF2ONNX}"]}}}}\n')
    done = snakemake(tmp_path, "-n", "--cores", "2", configfiles=(TINY, releases))
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout)
    # tf2onnx converts the Keras models' `onnx` hop in RQ1's routes: LeNet-5 and the GRU;
    # each release hop is compared with the original and with the pinned release's model
    assert {k: v for k, v in counts.items() if "version" in k or k == "converter_env"} == {
        "converter_env": 1,
        "convert_version": 2,
        "predict_version": 2,
        "compare_version": 4,
        "versions_report": 1,
    }


def _pypi_reachable(tmp_path: Path) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(tmp_path),
         f"tf2onnx=={OLD_TF2ONNX}"],
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


def test_an_older_tf2onnx_beside_the_pinned_one(tiny_run: Path, tmp_path: Path) -> None:
    if not _pypi_reachable(tmp_path):
        pytest.skip(f"PyPI unreachable: tf2onnx {OLD_TF2ONNX} cannot be installed here")
    releases = tmp_path / "versions.yaml"
    releases.write_text(f'versions: {{seeds: [0], converters: {{tf2onnx: ["{OLD_TF2ONNX}"]}}}}\n')
    run = tmp_path / "run"  # a copy: the other tests read the tiny run as it was made
    shutil.copytree(tiny_run, run, symlinks=True)
    target = "results/report/converter_versions.csv"
    env = {CHECK_ENV_VAR: "1"}  # each job with only its env file's packages importable
    done = snakemake(run, "--cores", "2", target, configfiles=(TINY, releases), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_csv(run / target)
    assert sorted(table["model"]) == ["gru", "lenet5"]
    assert set(table["version"].astype(str)) == {OLD_TF2ONNX}
    assert set(table["pinned_version"].astype(str)) == {"1.17.0"}
    lenet = table[table["model"] == "lenet5"].iloc[0]
    assert lenet["status"] == "ok" and lenet["route"] == "onnx"
    assert lenet["vs_pinned_max_abs_error_logit"] < 1e-4  # the same function either way
    # the release really converted: its conversion record names it, its model exists
    record = run / "results/versions/tf2onnx" / OLD_TF2ONNX / "converted/lenet5/keras/seed0/onnx"
    assert f'"tf2onnx": "{OLD_TF2ONNX}"' in (record / "conversion.json").read_text()
    assert (record / "model.onnx").stat().st_size > 0
    # the pinned run's results were not touched: nothing of it reruns
    done = snakemake(run, "-n", configfiles=(TINY,))
    assert "Nothing to be done" in done.stdout + done.stderr
