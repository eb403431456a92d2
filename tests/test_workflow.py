"""The workflow: job counts of both configs, lint, the tiny end-to-end run, partial reruns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY, job_counts, snakemake
from packaging.version import Version

from convstudy.config import read_pins


def dry_run(
    workdir: Path, *args: str, configfiles: tuple[Path, ...] = (), env: dict[str, str] | None = None
) -> dict[str, int]:
    done = snakemake(workdir, "-n", "--cores", "2", *args, configfiles=configfiles, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return job_counts(done.stdout)


def test_default_grid(tmp_path: Path, data_dir: Path) -> None:
    counts = dry_run(tmp_path, env={"CONVSTUDY_DATA_DIR": str(data_dir)})
    # 5 models x 2 frameworks x 2 seeds; 5 formats; original + 5 formats predicted; the
    # weights of the 3 CoreML formats read back; one gather job per table; the
    # initialisation ablation: LSTM and GRU, 5 arms (Adam: the epsilon arm too), 5 seeds,
    # 6 epochs (none is the study's own 3-epoch training), and its table.
    # RQ3 on both seeds: 12 image cells x (FGSM, Boundary) and 8 text cells x genetic
    # (with the run's word embedding, resolved once), each replayed by the attack job on
    # the original and by its own jobs on 5 routes, and compared on them; Boundary on the
    # 12 ONNX models.
    # The matrix (seed 0, every model): 7 torch and 9 keras paths with 6 and 8 hops beside
    # RQ1's, each hop converted, predicted and compared: 5 x 14 more of each, and 5 x 16
    # path records. Localization: which converted models it runs on is known only
    # after their comparisons (a checkpoint), so a dry run shows none of its jobs.
    assert counts == {
        "prepare_dataset": 3, "train": 20, "convert": 100 + 70, "read_weights": 60,
        "predict": 120 + 70, "compare": 100 + 70, "gather": 9, "report_fidelity": 1,
        "train_ablation": 50, "ablation_init": 1, "embedding": 1, "select": 20, "attack": 32,
        "attack_direct": 12, "replay": 160, "robustness": 160, "report_robustness": 1,
        "matrix_path": 80, "matrix_report": 1, "localization_pairs": 1,
        "localization_report": 1, "all": 1,
    }  # fmt: skip


def test_named_targets_schedule_only_their_stage(tmp_path: Path, data_dir: Path) -> None:
    env = {"CONVSTUDY_DATA_DIR": str(data_dir)}
    rq3 = dry_run(tmp_path, "rq3", env=env)
    # RQ3 needs the attacked seeds' RQ1 predictions (they choose the attacked inputs),
    # then its own jobs; nothing of the matrix, the ablation, localization or the weight
    # read-back
    assert rq3 == {
        "embedding": 1, "prepare_dataset": 3, "train": 20, "convert": 100, "predict": 120,
        "select": 20, "attack": 32, "attack_direct": 12, "replay": 160, "robustness": 160,
        "gather": 2, "report_robustness": 1, "rq3": 1,
    }  # fmt: skip
    matrix = dry_run(tmp_path, "matrix", env=env)
    assert matrix == {
        "prepare_dataset": 3, "train": 10, "convert": 80, "predict": 90, "compare": 80,
        "matrix_path": 80, "gather": 1, "matrix_report": 1, "matrix": 1,
    }  # fmt: skip


def test_paper_grid_downloads_without_local_folder(tmp_path: Path) -> None:
    done = snakemake(
        tmp_path,
        "-n",
        "--cores",
        "2",
        configfiles=(REPO / "config" / "paper.yaml",),
        env={"CONVSTUDY_DATA_DIR": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout)
    # RQ1's 5 models x 2 frameworks x 10 seeds trained; Louloudakis's 3 sources in both
    # frameworks with the published ImageNet weights (config/paper.yaml: weights: imagenet)
    assert counts["train"] == 100 and counts["adopt_published_weights"] == 3 * 2
    # RQ1's 500, the matrix (every model and seed through 14 more hops per model) and
    # Louloudakis's paths (19 hops per model, as in the default grid: seeds [0] in both)
    assert counts["convert"] == 500 + 5 * 10 * 14 + 3 * 19
    assert counts["louloudakis_pair"] == 45
    assert counts["attack"] == 160 and counts["replay"] == 800  # every seed attacked
    assert counts["fetch_dataset"] == 3


def test_lint_is_clean() -> None:
    done = snakemake(REPO, "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_invalid_config_value_stops_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lenet5:\n    lr: -1\n")
    done = snakemake(tmp_path, "-n", configfiles=(bad,))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "convstudy: invalid config key 'training.lenet5.lr': -1 is less than or equal to the minimum of 0"
    )


def test_tiny_run_produces_every_table(tiny_run: Path) -> None:
    report = tiny_run / "results" / "report"
    for name in ("table1_accuracy", "table2_errors", "table3_time", "table4_size"):
        assert (report / f"{name}.csv").stat().st_size > 0
        assert (report / f"{name}.md").read_text().count("\n") > 4
    assert (report / "figure2_training.png").read_bytes()[:4] == b"\x89PNG"
    assert (report / "figure2_training.svg").read_text().lstrip().startswith("<?xml")
    for name in ("table5_robustness_cnn", "table6_robustness_rnn", "table7_indicator",
                 "boundary_bounded", "boundary_steps", "rq3_tests"):  # fmt: skip
        assert (report / f"{name}.md").read_text().count("\n") > 3
    for name in ("figure3_attack_cnn", "figure4_attack_rnn"):
        assert (report / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    # the ablation on the GRU (SGD: no epsilon arm): the study's own models, and each
    # framework started from the other's initial weights
    cells = pd.read_csv(report / "ablation_init_cells.csv")
    assert list(cells["arm"]) == ["torch", "keras", "keras-from-torch", "torch-from-keras"]
    assert (cells["model"] == "gru").all() and cells["peak_acc"].between(0, 1).all()
    gaps = pd.read_csv(report / "ablation_init_gaps.csv").set_index(["name", "at"])
    own = gaps.loc[("own", "final")]
    # the table rounds to 4 decimals
    assert np.isclose(
        own["mean"], cells["final_acc"].iloc[0] - cells["final_acc"].iloc[1], atol=5e-5
    )
    assert own["conclusion"].endswith("from 1 seed, no interval")
    assert (report / "ablation_init_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_tiny_run_rows_and_provenance(tiny_run: Path) -> None:
    tables = tiny_run / "results" / "tables"
    predictions = pd.read_csv(tables / "predictions.csv")
    comparisons = pd.read_csv(tables / "comparisons.csv")
    conversions = pd.read_csv(tables / "conversions.csv")
    assert len(predictions) == 2 * 2 * 6 and len(comparisons) == 2 * 2 * 5
    assert len(conversions) == 2 * 2 * 5 + 2 * 8  # RQ1's hops, then the matrix's 8 more
    for frame in (predictions, comparisons, conversions):
        assert {
            "seed",
            "config_hash",
            "study_config_hash",
            "version_torch",
            "dataset_sha256",
        } <= set(frame)
    pins = read_pins(REPO / "envs" / "requirements.txt")
    # each job ran its runtime at the pinned version (public part: torch says 2.13.0+cpu);
    # the env check hides what a job's env lacks, and its row says "absent"
    for runtime, package in (("torch", "torch"), ("keras", "keras"),
                             ("onnxruntime", "onnxruntime"), ("coreml", "coremltools")):  # fmt: skip
        ran = predictions.loc[predictions["runtime"] == runtime, f"version_{package}"]
        assert {Version(str(v)).public for v in ran} == {pins[package]}, runtime
    # CoreML cells are reported, not dropped: off macOS they did not run, with the reason.
    coreml = predictions[predictions["target"].str.startswith("coreml")]
    assert len(coreml) == 12 and (coreml["size_bytes"] > 0).all()
    assert set(coreml["status"]) == {"not_run"} and coreml["reason"].str.contains("macOS").all()
    onnx = comparisons[comparisons["format"] == "onnx"]
    assert (onnx["status"] == "ok").all()
    assert (onnx["abs_error_logit"] < 1e-4).all() and (onnx["disagreement"] <= 0.02).all()
    coreml_routes = ["coreml-fp32", "coreml-fp16", "coreml-nn"]
    rq1 = conversions["route"].isin(["onnx", "onnx+onnx-fp16", *coreml_routes])
    assert set(conversions.loc[rq1, "status"]) == {"ok"}
    # every trained tensor is found in every CoreML model, as it is or rewritten
    weights = pd.read_csv(tables / "coreml_weights.csv")
    assert set(weights["format"]) == set(coreml_routes) and "seed" in weights
    assert set(weights["status"]) <= {"matched", "explained"} and weights["match"].all()
    fp32 = weights[
        weights["format"].isin(["coreml-fp32", "coreml-nn"]) & (weights["model"] == "lenet5")
    ]
    assert (fp32["rewrite"].isin(["identity", "transposed"])).all()
    assert np.allclose(fp32["max_abs_diff"], 0.0)


def test_tiny_run_localizes_every_faulty_route(tiny_run: Path) -> None:
    results = tiny_run / "results"
    comparisons = pd.read_csv(results / "tables" / "comparisons.csv")
    matrix = pd.read_csv(results / "tables" / "matrix.csv")
    localized = pd.read_csv(results / "tables" / "localizations.csv")
    final = matrix[matrix["final"]]
    candidates = pd.concat(
        [
            pd.DataFrame(
                {
                    "model": comparisons["model"],
                    "framework": comparisons["framework"],
                    "route": comparisons["format"],
                    "ok": comparisons["status"] == "ok",
                    "disagreement": comparisons["disagreement"],
                    "error": comparisons["rel_error_norm_logit"],
                }
            ),
            pd.DataFrame(
                {
                    "model": final["model"],
                    "framework": final["framework"],
                    "route": final["path"],
                    "ok": final["hop_eval_status"] == "ok",
                    "disagreement": final["hop_disagreement"],
                    "error": final["hop_rel_error_norm_logit"],
                }
            ),
        ]
    ).drop_duplicates(["model", "framework", "route"])
    faulty = candidates[
        candidates["ok"] & ((candidates["disagreement"] > 0) | (candidates["error"] > 1e-5))
    ]
    # the FP16 routes at least (FP16 rounding is far above the trigger), and exactly the
    # routes above the trigger: nothing faithful is localized
    assert set(faulty["route"]) >= {"onnx+onnx-fp16"}
    assert sorted(zip(localized["model"], localized["framework"], localized["target_route"])) == (
        sorted(zip(faulty["model"], faulty["framework"], faulty["route"]))
    )
    fp16 = localized[localized["target_route"] == "onnx+onnx-fp16"]
    assert (fp16["status"] == "ok").all(), fp16["reason"].tolist()
    assert (fp16["first_hop"] == "onnx+onnx-fp16").all()  # the FP16 hop, not the export
    assert (fp16["stage"] == "parameters").all()  # rounded weights come first
    assert fp16["disagreement_after"].notna().all()  # the repair was measured, not hidden
    report = (results / "report" / "localizations.md").read_text()
    assert sum("| onnx+onnx-fp16 |" in line for line in report.splitlines()) == len(fp16)


def test_tiny_run_attacks_and_replays(tiny_run: Path) -> None:
    tables = tiny_run / "results" / "tables"
    attacked = pd.read_csv(tables / "attacks.csv").set_index(["model", "framework", "attack"])
    assert set(attacked.index) == {
        ("lenet5", fw, a) for fw in ("torch", "keras") for a in ("fgsm", "boundary")
    } | {("gru", "torch", "genetic"), ("gru", "keras", "genetic")}
    assert (attacked["status"] == "ok").all() and (attacked["n"] > 0).all()
    fgsm = attacked.xs("fgsm", level="attack")
    assert (fgsm["median_linf"].dropna() <= 0.1 + 1e-6).all()  # FGSM stays within epsilon
    assert (attacked.xs("boundary", level="attack")["success_rate"] > 0.5).all()
    # the default embedding: the counter-fitted vectors; without them, GloVe-50d
    # counter-fitted with the published constraints (the local data folder has them); else
    # the plain GloVe fallback; every row says which and why
    genetic = attacked.xs("genetic", level="attack")
    assert genetic["facts_embedding_requested"].eq("counter-fitted").all()
    fell_back = genetic["facts_embedding_fallback_reason"].notna()
    made_here = genetic["facts_embedding"].eq(
        "glove-6b-50d counter-fitted with the published constraints"
    )
    assert genetic["facts_counter_fitted"].eq(~fell_back | made_here).all()
    assert genetic.loc[fell_back & ~made_here, "facts_embedding"].eq("glove-6b-50d").all()
    assert genetic.loc[made_here, "facts_embedding_derivation"].str.contains("SimLex").all()
    embedding = json.loads((tiny_run / "data" / "prepared" / "embedding.json").read_text())
    assert embedding["name"] == genetic["facts_embedding"].iloc[0]
    robust = pd.read_csv(tables / "robustness.csv")
    coreml = robust[robust["format"].str.startswith("coreml")]
    assert set(coreml["status"]) == {"not_run"}  # reported, not dropped
    onnx = robust[(robust["format"] == "onnx") & (robust["status"] == "ok")]
    assert len(onnx) == 6  # every attack replayed on every ONNX model
    # ONNX FP32 reproduces the originals on the adversarial inputs
    assert (onnx["disagreement_adversarial"] <= 0.125).all()
    # the per-input outcomes behind S_o and S_c, and the Boundary attack's bounded ones
    ran = robust[robust["status"] == "ok"]
    assert (ran["outcomes_any_n"] == ran["n"]).all()
    assert np.allclose(ran["outcomes_any_k_original"] / ran["n"], ran["success_original"])
    boundary = ran[ran["attack"] == "boundary"]
    assert (boundary["outcomes_linf_k_original"] <= boundary["outcomes_any_k_original"]).all()
    # its distances at the checkpoint and at the last step (tiny config: 100 and 200)
    assert set(attacked.xs("boundary", level="attack")["facts_trajectory_steps"]) == {"100;200"}
    # one selection per cell serves every attack: same clean inputs for FGSM and Boundary
    cell = tiny_run / "results/robustness/lenet5/keras/seed0"
    with (
        np.load(cell / "fgsm/adversarial.npz") as a,
        np.load(cell / "boundary/adversarial.npz") as b,
    ):
        assert np.array_equal(a["indices"], b["indices"]) and np.array_equal(a["clean"], b["clean"])


def test_tiny_run_history_and_models(tiny_run: Path) -> None:
    training = pd.read_csv(tiny_run / "results" / "tables" / "training.csv")
    lenet = training[training["model"] == "lenet5"]
    assert sorted(lenet["epoch"].unique()) == [1, 2]
    assert set(training["framework"]) == {"torch", "keras"}
    for framework in ("torch", "keras"):  # a model folder holds all that loading it needs
        folder = tiny_run / f"results/models/lenet5/{framework}/seed0"
        assert {p.name for p in folder.iterdir() if p.name != ".snakemake_timestamp"} == {
            f"model.{framework}",
            "spec.json",
            "train.json",
        }
    log = (tiny_run / "logs/train/lenet5/torch/seed0.log").read_text()
    assert "epoch 2/2" in log


def _rerun_counts(tiny_run: Path, tmp_path: Path, package: str, version: str) -> dict[str, int]:
    changes = 0
    for name in ("requirements.txt", "requirements-nodeps.txt"):  # the pins and their companion
        original = (REPO / "envs" / name).read_text().splitlines()
        changed = [
            f"{package}=={version}" if line.startswith(f"{package}==") else line
            for line in original
        ]
        changes += changed != original
        (tmp_path / name).write_text("\n".join(changed) + "\n")
    assert changes == 1
    pins = tmp_path / "requirements.txt"
    return dry_run(tiny_run, "--config", f"pins_file={pins}", configfiles=(TINY,))


def test_nothing_to_rerun_after_tiny_run(tiny_run: Path) -> None:
    done = snakemake(tiny_run, "-n", configfiles=(TINY,))
    assert "Nothing to be done" in done.stdout + done.stderr


#: Per changed pin: the hops that use it and every hop after them (each converted,
#: predicted, compared), the matrix paths through them, and the tables gathered anew.
RQ3 = {"report_robustness": 1}  # attacked cells' RQ3 jobs are listed per pin below
#: Changed comparisons rerun the localization checkpoint, its table and report; which
#: `localize` jobs follow is known only after the checkpoint, so a dry run shows none.
LOC = {"localization_pairs": 1, "localization_report": 1}
RERUNS = {
    # keras -> onnx (RQ1) with its fp16 hop, and tflite -> onnx (matrix), of 2 models; the
    # Keras cells' attack inputs are chosen anew, so their attacks (LeNet-5: FGSM,
    # Boundary, Boundary on ONNX; GRU: genetic), replays (5 routes; the original's is the
    # attack job's) and comparisons (5 routes) rerun
    "tf2onnx": {"convert": 6, "predict": 6, "compare": 6, "matrix_path": 2, "gather": 7,
                "select": 2, "attack": 3, "attack_direct": 1, "replay": 15, "robustness": 15,
                "report_fidelity": 1, "matrix_report": 1, "all": 1, **RQ3, **LOC},
    # every CoreML conversion (3 formats) and its weight read-back; every cell's attacks
    "coremltools": {"convert": 12, "read_weights": 12, "predict": 12, "compare": 12,
                    "gather": 7, "select": 4, "attack": 6, "attack_direct": 2, "replay": 30,
                    "robustness": 30, "report_fidelity": 1, "all": 1, **RQ3, **LOC},
    # torch -> onnx, its fp16 hop and the 4 matrix hops after it, of 2 models
    "onnxscript": {"convert": 12, "predict": 12, "compare": 12, "matrix_path": 6, "gather": 7,
                   "select": 2, "attack": 3, "attack_direct": 1, "replay": 15,
                   "robustness": 15, "report_fidelity": 1, "matrix_report": 1, "all": 1, **RQ3, **LOC},
    # onnx -> torch-fx only (converter and runtime): RQ1's and RQ3's tables are untouched
    "onnx2torch": {"convert": 2, "predict": 2, "compare": 2, "matrix_path": 2, "gather": 3,
                   "matrix_report": 1, "all": 1, **LOC},
}  # fmt: skip


@pytest.mark.parametrize("package", RERUNS)
def test_converter_version_change_reruns_only_its_conversions(
    tiny_run: Path, tmp_path: Path, package: str
) -> None:
    assert _rerun_counts(tiny_run, tmp_path, package, "99.0") == RERUNS[package]


def test_changing_one_models_hyperparameter_reruns_only_that_model(
    tiny_run: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "lr.yaml"
    changed.write_text(
        TINY.read_text().replace("lr: 0.05", "lr: 0.04", 1)
    )  # the first block: lenet5
    counts = dry_run(tiny_run, configfiles=(changed,))
    # LeNet-5 in both frameworks: 2 trainings, 10 RQ1 conversions (6 of them to CoreML,
    # read back) and the matrix's 8 hops, 20 predictions, 18 comparisons, 5 matrix paths,
    # both cells' attacks (FGSM, Boundary, Boundary on ONNX) with their 5 replays (and the
    # original's, in the attack job) and 5 comparisons each; every table but the ablation's is gathered anew.
    assert counts == {
        "train": 2,
        "convert": 18,
        "read_weights": 6,
        "predict": 20,
        "compare": 18,
        "matrix_path": 5,
        "matrix_report": 1,
        "select": 2,
        "attack": 4,
        "attack_direct": 2,
        "replay": 20,
        "robustness": 20,
        "gather": 9,
        "report_fidelity": 1,
        "report_robustness": 1,
        "all": 1,
        **LOC,
    }


@pytest.mark.parametrize(
    "command",
    [
        ["snakefmt", "--check", "Snakefile", "workflow/rules"],
        ["ruff", "check", "src", "tests", "workflow/scripts"],
        ["ruff", "format", "--check", "src", "tests", "workflow/scripts"],
        ["mypy", "src"],
    ],
    ids=["snakefmt", "ruff-check", "ruff-format", "mypy"],
)
def test_code_style_is_clean(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_builds(tiny_run: Path) -> None:
    done = snakemake(tiny_run, "--report", "report.zip", configfiles=(TINY,))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tiny_run / "report.zip").stat().st_size > 10_000


def test_benchmark_table_from_the_tiny_runs_job_logs(tiny_run: Path) -> None:
    from convstudy.benchmark import per_rule

    table = per_rule(tiny_run).set_index("rule")
    # 2 models x 2 frameworks x 1 seed; 5 formats and the matrix's 16 more hops; original,
    # 5 formats and 16 hops predicted; the attacks, Boundary on the 2 LeNet-5 ONNX models;
    # the GRU of the initialisation ablation (from each other's initial weights; the own
    # arms are the study's models); localization of the 3 FP16 routes
    # that run (the Keras GRU's FP16 model is refused by onnxruntime).
    assert {rule: table["jobs"][rule] for rule in (
        "localize", "convert", "attack", "predict", "read_weights", "train", "attack_direct",
        "train_ablation", "prepare_dataset",
    )} == {
        "localize": 3, "convert": 20 + 16, "attack": 6, "predict": 24 + 16, "read_weights": 12,
        "train": 4, "attack_direct": 2, "train_ablation": 2, "prepare_dataset": 2,
    }  # fmt: skip
    # every job's log says what it cost, the numpy-only ones' too
    assert {"compare", "select", "replay", "robustness", "matrix_path", "gather"} <= set(
        table.index
    )
    assert (table["total_s"] >= table["max_s"]).all() and (table["max_s"] > 0).all()
    assert (table["cpu_s"] > 0).all()  # measured by each job's process: the short ones too
    # A CoreML conversion imports torch and TensorFlow: far above 100 MB resident.
    assert (table["max_rss_mb"] > 0).all() and table.loc["convert", "max_rss_mb"] > 100
    # every job's fixed cost is estimated from its log: start-up and the packages it imported
    assert (table["overhead_s"] > 0).all() and (table["overhead_share"] <= 1).all()
    assert table.loc["convert", "overhead_s"] > table.loc["compare", "overhead_s"] / 10


def test_benchmark_accepts_a_relative_dataset_folder(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convstudy.benchmark import main

    monkeypatch.chdir(data_dir.parent)
    monkeypatch.setenv("CONVSTUDY_DATA_DIR", data_dir.name)  # relative to the caller
    assert main(["--workdir", str(tmp_path / "bench"), "--", "--dry-run", "--quiet"]) == 0
    assert "exit status 0" in (tmp_path / "bench" / "benchmark.md").read_text()
