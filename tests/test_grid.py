"""The grid: what a configuration contains, computed without Snakemake (milliseconds)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from conftest import REPO
from snakemake.utils import update_config

from convstudy import ablation, grid
from convstudy.config import read_pins
from convstudy.grid import Grid, W

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PAPER = copy.deepcopy(DEFAULT)
update_config(
    PAPER, yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
)  # as --configfile
PINS = read_pins(REPO / "envs" / "requirements.txt")


def with_(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    changed.update(changes)
    return changed


@pytest.fixture
def default() -> Grid:
    return Grid(DEFAULT, PINS)


def test_default_cells_routes_and_hops(default: Grid) -> None:
    assert default.models == ["lenet5", "resnet18", "vgg16", "lstm", "gru"]
    assert default.all_seeds == ["0", "1"] and default.matrix_seeds == ["0"]
    assert default.routes["torch"] == [
        "onnx",
        "onnx+onnx-fp16",
        "coreml-fp32",
        "coreml-fp16",
        "coreml-nn",
    ]
    assert len(default.matrix_routes["torch"]) == 7 and len(default.matrix_routes["keras"]) == 9
    assert default.coreml_routes == ["coreml-fp16", "coreml-fp32", "coreml-nn"]
    # RQ1's five routes, then the matrix's hops that RQ1 does not convert
    assert default.hops_of("torch", "0")[:5] == default.routes["torch"]
    assert (
        len(default.hops_of("torch", "0")) == 5 + 6 and len(default.hops_of("keras", "0")) == 5 + 8
    )
    assert default.hops_of("torch", "1") == default.routes["torch"]  # seed 1: RQ1 only
    assert "onnx+savedmodel+tflite" in default.hops and "onnx+onnx-fp16" in default.hops


def test_default_tables_gather_what_the_dry_run_schedules(default: Grid) -> None:
    """The same numbers as the default dry run's job counts (tests/test_workflow.py)."""

    def count(table: str) -> int:
        return len(default.gather_inputs(table, list))

    assert count("training") == 20
    assert count("conversions") == 100 + 70  # RQ1's hops, then the matrix's
    assert count("coreml_weights") == 60  # 3 CoreML formats x 20 cells
    assert count("predictions") == 120  # RQ1's targets only: the original and 5 routes
    assert count("comparisons") == 100
    assert count("matrix") == 5 * 16
    # RQ3's two seeds x (6 image cells x 2 attacks, 4 text cells x 1; Boundary on ONNX)
    assert count("attacks") == 2 * (16 + 6)
    assert count("robustness") == 2 * 16 * 5
    assert count("localizations") == 0  # known after the checkpoint
    pairs = [{"model": "lenet5", "framework": "torch", "seed": "0", "route": "onnx"}]
    assert default.gather_inputs("localizations", lambda: pairs) == [
        "results/localization/lenet5/torch/seed0/onnx"
    ]
    # localization candidates: every RQ1 route and matrix path of seed 0, once each
    assert len(default.localization_candidates()) == 5 * (5 + 7 - 1) + 5 * (5 + 9 - 1)


def test_named_targets(default: Grid) -> None:
    assert default.stage_targets("rq2") == [
        "results/report/table3_time.md",
        "results/report/table4_size.md",
    ]
    assert "results/report/table7_indicator.md" in default.stage_targets("rq3")
    assert default.stage_targets("matrix") == [
        "results/report/matrix_paths.md",
        "results/report/matrix_hops.md",
    ]
    assert default.stage_targets("sources") == default.stage_targets("versions") == []
    everything = default.stage_targets("report")
    for stage in grid.STAGES:
        # Louloudakis et al.'s grid is a target of its own by default (`in_report: false`)
        assert set(default.stage_targets(stage)) <= set(everything) or stage == "louloudakis"
    assert default.stage_targets("louloudakis") and not (
        set(default.stage_targets("louloudakis")) & set(everything)
    )
    assert "results/tables/conversions.csv" in everything


def test_a_stage_the_config_turns_off_asks_for_nothing() -> None:
    config = with_(
        DEFAULT,
        robustness={**DEFAULT["robustness"], "attacks": []},
        matrix={**DEFAULT["matrix"], "seeds": []},
        localization={**DEFAULT["localization"], "seeds": []},
        ablation={"matched_init": {"models": [], "seeds": None}},
    )
    off = Grid(config, PINS)
    assert off.ablation_inputs() == [] and off.ablation_trained() == []
    for stage in ("rq3", "matrix", "localization", "ablation"):
        assert off.stage_targets(stage) == [], stage
    assert off.gather_inputs("matrix", list) == []
    assert len(off.gather_inputs("conversions", list)) == 100


def test_paper_grid() -> None:
    paper = Grid(PAPER, PINS)
    assert len(paper.gather_inputs("training", list)) == 100
    assert len(paper.gather_inputs("conversions", list)) == 500 + 5 * 10 * 14
    assert len(paper.robust_cells(grid.ATTACKED)) == 160


def test_job_parameters(default: Grid) -> None:
    cell = W(model="lenet5", framework="keras", seed="0")
    assert default.prepared_npz(cell) == "data/prepared/mnist.npz"
    settings = default.hop_settings(W(cell, route="onnx+onnx-fp16"))
    assert settings["target"] == "onnx-fp16" and "onnxconverter-common" in settings["versions"]
    missing = default.hop_settings(W(cell, route="onnx+keras"))
    assert missing["missing_converter"].startswith("no maintained ONNX -> Keras 3")
    assert default.attack_settings(W(cell, attack="fgsm")) == {"epsilon": 0.1}
    assert default.boundary_settings(cell)["steps"] == DEFAULT["robustness"]["boundary"]["steps"]
    # an RQ1 prediction is timed in a quiet window; a matrix-only target is not timed
    assert default.evaluation_params(W(cell, target="onnx"))["quiet"] is True
    assert default.evaluation_params(W(cell, target="savedmodel"))["quiet"] is False
    assert default.evaluation_params(W(cell, target="savedmodel"))["repeats"] == 1
    assert default.prediction_device(W(cell, target="original")) == "auto"
    assert default.prediction_device(W(cell, target="onnx")) == "cpu"
    assert (
        default.selection_predictions(cell)[0]
        == "results/predictions/lenet5/keras/seed0/original.npz"
    )
    assert default.route_input(W(cell, route="onnx+onnx-fp16"), grid.TRAINED, grid.CONVERTED) == (
        "results/converted/lenet5/keras/seed0/onnx"
    )
    assert default.target_input(W(cell, target="original"), grid.TRAINED, grid.CONVERTED) == (
        "results/models/lenet5/keras/seed0"
    )
    assert default.along_route(W(cell, route="savedmodel+tflite"), grid.COMPARISON) == [
        "results/metrics/lenet5/keras/seed0/savedmodel.json",
        "results/metrics/lenet5/keras/seed0/savedmodel+tflite.json",
    ]
    assert default.attack_embedding(W(cell, attack="genetic"), "e.json") == ["e.json"]
    assert default.attack_embedding(W(cell, attack="fgsm"), "e.json") == []


def test_ablation_versions_and_brought_models() -> None:
    config = with_(
        DEFAULT,
        versions={"seeds": [0], "converters": {"tf2onnx": ["1.16.1"]}},
        matrix={**DEFAULT["matrix"], "sources": [{"name": "mine", "path": "mine.onnx"}]},
    )
    g = Grid(config, PINS, {"mine": "onnx"})
    entries = g.version_entries()
    # tf2onnx converts keras -> onnx for each of the 5 Keras models at seed 0
    assert len(entries) == 5 and {e["package"] for e in entries} == {"tf2onnx"}
    assert entries[0]["vs_pinned"].endswith("onnx-vs-pinned.json")
    assert g.stage_targets("versions") == ["results/report/converter_versions.md"]
    assert g.source_routes["mine"] == ["savedmodel", "savedmodel+tflite", "torch-fx"]
    assert "savedmodel+tflite" in g.hops
    assert g.source_paths_of(grid.SOURCE_PATH)[0] == "results/sources/mine/paths/savedmodel.json"
    assert g.stage_targets("sources") == ["results/report/matrix_sources.md"]


LOULOUDAKIS_TINY = {
    "models": ["lenet5"],
    "seeds": [0],
    "sources": {"torch": ["torch"], "keras": ["keras"], "tf": ["keras", "savedmodel"],
                "tflite": ["keras", "tflite"]},
    "pairs": {
        "torch": {"keras": [["onnx", "keras"]], "tf": [["onnx", "savedmodel"]], "tflite": [["tflite"]]},
        "tf": {"torch": [["onnx", "torch-fx"]], "tflite": [["tflite"], ["tflite-dr"]]},
    },
    "case": {"model": "lenet5", "source": "tf", "target": "tflite"},
}  # fmt: skip


def test_louloudakis_pairs_files_and_target() -> None:
    g = Grid(with_(DEFAULT, louloudakis=LOULOUDAKIS_TINY), PINS)
    routes = [(p.source, p.target, p.base, p.route) for p in g.pairs]
    assert routes == [
        ("torch", "keras", "original", "onnx+keras"),
        ("torch", "tf", "original", "onnx+savedmodel"),
        ("torch", "tflite", "original", "tflite"),
        ("tf", "torch", "savedmodel", "savedmodel+onnx+torch-fx"),
        ("tf", "tflite", "savedmodel", "savedmodel+tflite"),
        ("tf", "tflite", "savedmodel", "savedmodel+tflite-dr"),
    ]
    assert {p.framework for p in g.pairs if p.source == "tf"} == {"keras"}
    assert "savedmodel+onnx+torch-fx" in g.hops and "savedmodel+tflite-dr" in g.hops
    pairs = g.louloudakis_files("pairs")
    assert (
        pairs[3]
        == "results/louloudakis/pairs/lenet5/keras/seed0/savedmodel/savedmodel+onnx+torch-fx.json"
    )
    # every hop of every path converted once; the case study's two paths always localized
    assert "results/converted/lenet5/keras/seed0/savedmodel" in g.louloudakis_files("conversions")
    assert [c["route"] for c in g.louloudakis_case_pairs()] == [
        "savedmodel+tflite",
        "savedmodel+tflite-dr",
    ]
    assert g.stage_targets("louloudakis") == [
        "results/report/louloudakis_grid.md",
        "results/report/louloudakis_case.md",
    ]
    # a target of its own: `all` makes it only when the config says so
    assert "results/report/louloudakis_grid.md" not in g.stage_targets("report")
    in_report = with_(DEFAULT, louloudakis={**LOULOUDAKIS_TINY, "in_report": True})
    assert "results/report/louloudakis_grid.md" in Grid(in_report, PINS).stage_targets("report")
    # a prediction of a model only this grid has is not timed for RQ2
    only = with_(DEFAULT, models=["gru"], louloudakis=LOULOUDAKIS_TINY)
    assert (
        Grid(only, PINS).rq1_target(W(model="lenet5", framework="keras", seed="0", target="onnx"))
        is False
    )


def test_default_louloudakis_grid_is_the_papers_36_pairs(default: Grid) -> None:
    pairs = {(p.model, p.source, p.target) for p in default.pairs}
    frameworks = ("torch", "keras", "tf", "tflite")
    assert pairs == {
        (m, s, t)
        for m in ("mobilenetv2", "resnet101", "inceptionv3")
        for s in frameworks
        for t in frameworks
        if s != t
    }
    assert len(default.pairs) == 3 * 15  # two paths to TFLite from PyTorch, three from TF
    assert [p["route"] for p in default.louloudakis_case_pairs()] == [
        "savedmodel+tflite", "savedmodel+tflite-dr", "savedmodel+tflite-fp16",
    ]  # fmt: skip
    assert {p["model"] for p in default.louloudakis_case_pairs()} == {"inceptionv3"}


def test_a_model_with_an_image_size_trains_on_its_own_prepared_copy(default: Grid) -> None:
    inception = W(model="inceptionv3", framework="keras", seed="0")
    assert default.prepared_npz(inception) == "data/prepared/cifar10-75px.npz"
    assert default.prepared_npz(W(inception, model="resnet101")) == "data/prepared/cifar10.npz"
    assert default.dataset_of(inception) == "cifar10"  # floors and attack settings
    assert "image_size" not in default.training_params(inception)
    assert default.all_datasets == ["cifar10", "cifar10-75px", "imdb", "mnist"]
    assert default.datasets == ["cifar10", "imdb", "mnist"]  # RQ1's, gathered
    assert default.source_datasets == ["cifar10", "imdb", "mnist"]
    resized = W(dataset="cifar10-75px")
    assert Grid.base_dataset(resized) == "cifar10"
    assert default.prepare_params(resized) == {
        "split_seed": DEFAULT["datasets"]["split_seed"],
        **DEFAULT["datasets"]["cifar10"],
        "image_size": 75,
    }
    assert "image_size" not in default.prepare_params(W(dataset="cifar10"))


def ablation_grid(config: dict[str, Any] = DEFAULT, **matched_init: Any) -> Grid:
    section = {"models": ["lstm", "gru"], "seeds": None, **matched_init}
    return Grid(with_(config, ablation={"matched_init": section}), PINS)


def test_ablation_trains_every_arm_the_study_does_not_train() -> None:
    # the ablation's own epochs: every arm of every seed is the ablation's to train
    g = ablation_grid(seeds=[0, 1, 2, 3, 4], epochs=7)
    assert g.ablation_arms_of("lstm") == list(ablation.ARMS)
    assert len(g.ablation_inputs()) == len(g.ablation_trained()) == 2 * 5 * 5
    assert g.ablation_inputs()[:2] == [
        "results/ablation/matched_init/lstm/torch/seed0",
        "results/ablation/matched_init/lstm/torch/seed1",
    ]
    hyper = g.ablation_hyper(W(model="lstm", arm="torch-keras-eps", seed="0"))
    assert hyper["epochs"] == 7 and hyper["adam_epsilon"] == "keras"
    assert hyper["lr"] == DEFAULT["training"]["lstm"]["lr"]
    assert "adam_epsilon" not in g.ablation_hyper(W(model="gru", arm="keras", seed="0"))
    assert g.ablation_arm(W(model="gru", arm="torch-from-keras", seed="3")) == {
        "framework": "torch",
        "init": "keras",
    }
    versions = g.ablation_versions(W(model="gru", arm="keras-from-torch", seed="0"))
    assert {"torch", "keras", "tensorflow-cpu"} <= set(versions)
    assert set(g.ablation_versions(W(model="gru", arm="torch", seed="0"))) == {"torch"}


def test_ablation_reuses_the_studys_models_where_they_are_the_same_training() -> None:
    # the study's epochs and seeds 0, 1 of the study: the own arms of those seeds are the
    # study's models; seeds 2-4 and every other arm are trained by the ablation
    g = ablation_grid(seeds=[0, 1, 2, 3, 4], epochs=None)
    inputs, trained = g.ablation_inputs(), g.ablation_trained()
    assert len(inputs) == 50 and len(trained) == 50 - 2 * 2 * 2
    assert "results/models/lstm/torch/seed1" in inputs
    assert "results/ablation/matched_init/lstm/torch/seed2" in trained
    assert "results/ablation/matched_init/gru/keras-from-torch/seed0" in trained
    # equal epochs given explicitly are the same training
    assert ablation_grid(epochs=3).ablation_inputs() == ablation_grid().ablation_inputs()
    # an imported cell is no training run of the study: the ablation trains its own
    imported = [{"model": "lstm", "framework": "keras", "seed": 0, "path": "x.keras"}]
    g = ablation_grid(with_(DEFAULT, imported_models=imported))
    assert "results/ablation/matched_init/lstm/keras/seed0" in g.ablation_trained()
    assert "results/models/lstm/keras/seed1" in g.ablation_inputs()


def test_a_study_narrowed_to_other_models_runs_no_ablation() -> None:
    narrowed = ablation_grid(with_(DEFAULT, models=["lenet5", "gru"]))
    assert {model for model, _, _ in narrowed.ablation_cells()} == {"gru"}
    assert ablation_grid(with_(DEFAULT, models=["lenet5"])).ablation_cells() == []
    assert narrowed.stage_targets("report") and not ablation_grid(
        with_(DEFAULT, models=["lenet5"])
    ).stage_targets("ablation")


def test_ablation_arms_follow_the_config_and_the_optimizer() -> None:
    g = ablation_grid(arms=["torch", "keras", "keras-from-torch"], epochs=5)
    assert g.ablation_arms_of("gru") == ["torch", "keras", "keras-from-torch"]
    assert len(g.ablation_trained()) == 2 * 3 * 2
    # the epsilon arm means nothing without Adam
    sgd = with_(DEFAULT, training={**DEFAULT["training"]})
    sgd["training"]["gru"] = {**DEFAULT["training"]["gru"], "optimizer": "sgd"}
    assert "torch-keras-eps" not in ablation_grid(sgd).ablation_arms_of("gru")
    assert "torch-keras-eps" in ablation_grid(sgd).ablation_arms_of("lstm")
    # the stage asks for the tables and the figure, only when there are cells
    assert ablation_grid().stage_targets("ablation") == [
        "results/report/ablation_init.md",
        "results/report/ablation_init_gaps.md",
        "results/report/ablation_init_curves.png",
    ]
    assert ablation_grid(models=[]).stage_targets("ablation") == []


def test_the_earlier_grid_kept_for_timing_is_that_grid() -> None:
    # config/grid-123842e.yaml: the default grid of commit 123842e (758 jobs there), which
    # the benchmark page times today's code on; its counts are that commit's job counts
    from convstudy.config import validate

    config = copy.deepcopy(DEFAULT)
    update_config(config, yaml.safe_load((REPO / "config" / "grid-123842e.yaml").read_text()))
    validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    old = Grid(config, PINS)

    def count(table: str) -> int:
        return len(old.gather_inputs(table, list))

    # 123842e: 135 convert, 40 read_weights, 16 attack and 6 attack_direct jobs
    assert count("conversions") == 80 + 55
    assert count("coreml_weights") == 40
    assert count("attacks") == 16 + 6
    assert count("training") == 20 and count("matrix") == 5 * 13  # 13 paths per model
    assert old.ablation_config["seeds"] is None and old.ablation_config.get("epochs") is None
