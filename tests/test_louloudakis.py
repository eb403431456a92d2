"""Louloudakis et al.'s grid in the workflow: the default's 36 pairs scheduled, and a
small grid (tests/configs/louloudakis.yaml) run end to end with every job's env checked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, job_counts, snakemake

from convstudy.envs import CHECK_ENV_VAR
from convstudy.provenance import read_json
from convstudy.report.louloudakis import grid_table, models_table, published_table, wilson

CONFIG = REPO / "tests" / "configs" / "louloudakis.yaml"
RULES = ("louloudakis_pair", "louloudakis_faulty", "localize_pair", "louloudakis_report")


def test_default_target_converts_every_pair(tmp_path: Path, data_dir: Path) -> None:
    done = snakemake(tmp_path, "-n", "--cores", "2", "louloudakis")
    assert done.returncode == 0, done.stderr[-3000:]
    # 3 models x (the Keras model trained, the PyTorch one carried across; 19 hops: 4 + 3 + 5 + 3 paths of the
    # sources, each hop converted once); every model but a hop with no converter predicted;
    # one comparison per path (45); the localizations are known after the checkpoint
    assert job_counts(done.stdout) == {
        "prepare_dataset": 2, "train": 3, "adopt_keras_weights": 3, "convert": 3 * 19,
        "predict": 3 * 17,
        "louloudakis_pair": 45, "louloudakis_faulty": 1, "louloudakis_report": 1,
        "louloudakis": 1,
    }  # fmt: skip


@pytest.mark.slow
def test_small_grid_runs_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    env = {"CONVSTUDY_DATA_DIR": str(data_dir), CHECK_ENV_VAR: "1"}
    done = snakemake(tmp_path, "--cores", "2", "louloudakis", configfiles=(CONFIG,), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    # the enlarged images: a prepared copy of their own, saying how they were made
    prepared = read_json(tmp_path / "data" / "prepared" / "cifar10-40px.json")
    assert prepared["resize"]["image_size"] == 40
    report = tmp_path / "results" / "report"
    pairs = pd.read_csv(report / "louloudakis_pairs.csv")
    assert len(pairs) == 6
    by_path = pairs.set_index(["source", "target", "path"])
    missing = by_path.loc[("tf", "keras", "keras")]
    assert missing["status"] == "error" and "SavedModel -> Keras 3" in missing["reason"]
    # a converter crash is a row with its reason (onnx2tf fails on the PyTorch MobileNetV2
    # at the time of writing); the Keras side converts with its own converters
    assert (pairs["status"].isin(["ok", "error"])).all()
    assert pairs.loc[pairs["status"] == "error", "reason"].str.len().gt(0).all()
    ok = pairs[pairs["status"] == "ok"]
    assert {"onnx -> torch-fx", "savedmodel", "tflite", "tflite-dr"} <= set(ok["path"])
    assert (ok["n"] == 64).all() and ok["disagreement"].between(0, 1).all()
    # keras.export's SavedModel is the Keras model's own graph: the same outputs
    assert by_path.loc[("keras", "tf", "savedmodel"), "max_abs_error_logit"] < 1e-4
    case = pd.read_csv(report / "louloudakis_case.csv")
    assert list(case["path"]) == ["published (TFLiteConverter)", "tflite", "tflite-dr"]
    assert case["hop"].notna().all() and case["repair"].notna().all()
    assert (report / "louloudakis_grid.png").read_bytes()[:4] == b"\x89PNG"
    published = pd.read_csv(report / "louloudakis_published.csv")
    assert "conversions that crash" in set(published["published claim"])
    # every job of the grid ran with only its env's distributions importable
    for rule in RULES:
        logs = sorted((tmp_path / "logs").glob(f"{rule}*/**/*.log")) + sorted(
            (tmp_path / "logs").glob(f"{rule}.log")
        )
        assert logs, rule
        for log in logs:
            checks = [line for line in log.read_text().splitlines() if "conda env check:" in line]
            assert len(checks) == 1 and " provides " in checks[0], (log, checks)


def _row(source: str, target: str, status: str, reason: str = "", changed: int = 0) -> dict:
    n = 100 if status == "ok" else 0
    row = {"model": "mobilenetv2", "framework": "keras", "seed": 0, "source": source,
           "target": target, "path": target, "status": status, "reason": reason, "n": n}  # fmt: skip
    if status == "ok":
        low, high = wilson(changed, n)
        row.update(changed=changed, disagreement=changed / n, ci_low=low, ci_high=high)
    return row


def test_grid_and_published_tables_tell_crashes_from_missing_converters() -> None:
    rows = pd.DataFrame(
        [
            _row("tf", "keras", "error", "NoConverter: no TF SavedModel -> Keras 3 converter"),
            _row("torch", "tf", "error", "ValueError: Dimensions must be equal"),
            _row("tf", "tflite", "ok", changed=4),
            _row("tf", "torch", "ok"),
        ]
    )
    grid = grid_table(rows).set_index("source")
    assert grid.loc["tf", "keras"] == "no converter" and grid.loc["torch", "tf"] == "crash"
    assert grid.loc["tf", "tflite"].startswith("4.0% [1.6%, 9.8%]")
    published = published_table(rows).set_index("published claim")["ours"]
    assert published["conversions that crash"] == "2 of 4 (1 crashed, 1 with no converter)"
    assert published["the largest label change"] == "4.0% (mobilenetv2, TensorFlow -> TFLite)"
    assert published["TF -> TFLite"] == "4.0%-4.0% (tflite 4.0%-4.0%)"
    assert published["TensorFlow -> PyTorch"] == "0 of 100 labels changed"
    unchanged = published_table(rows.drop(index=2)).set_index("published claim")["ours"]
    assert unchanged["the largest label change"].startswith("none")


def test_models_table_names_the_weights_and_the_floor(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "inceptionv3" / "keras" / "seed0"
    folder.mkdir(parents=True)
    train = {"model": "inceptionv3", "framework": "keras", "seed": 0, "dataset": "cifar10",
             "epochs": 2, "final_val_acc": 0.31, "input_shape": [75, 75, 3],
             "hyper": {"subset": {"train": 2048}}, "imported_from": ""}  # fmt: skip
    (folder / "train.json").write_text(json.dumps(train))
    original = tmp_path / "original.json"
    prediction = {"model": "inceptionv3", "framework": "keras", "seed": 0, "status": "ok",
                  "n_eval": 512, "accuracy": 0.125}  # fmt: skip
    original.write_text(json.dumps(prediction))
    table = models_table([folder], [original], {"cifar10": 0.25})
    row = table.iloc[0]
    assert row["weights"] == "trained here: cifar10, 2048 images at 75x75, 2 epochs, seed 0"
    assert row["n"] == 512 and not row["above_floor"] and row["ci_high"] < 0.25
    published = {**train, "framework": "torch", "init": "published", "epochs": 0,
                 "imported_from": "published ImageNet weights, Keras applications: x.h5"}  # fmt: skip
    (folder / "train.json").write_text(json.dumps(published))
    original.write_text(json.dumps({**prediction, "framework": "torch"}))
    row = models_table([folder], [original], {"cifar10": 0.25}).iloc[0]
    assert row["weights"] == published["imported_from"]  # no accuracy against CIFAR-10 labels
    assert row["above_floor"].startswith("n/a") and "accuracy" not in row.dropna()
