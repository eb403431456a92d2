"""The initialisation ablation: its arms, Adam's epsilon placement, and the report's
intervals and sentences on hand-made tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from convstudy import ablation
from convstudy.report.ablation import arm_table, cell_rows, gap_table, sentence, t_interval


def test_every_arm_is_recognised_from_its_record_and_named_in_the_schema() -> None:
    for name, arm in ablation.ARMS.items():
        hyper = ablation.arm_hyper({"optimizer": "adam", "epochs": 3}, name, 9)
        assert hyper["epochs"] == 9
        assert ablation.arm_of(arm.framework, arm.init, hyper) == name
    with pytest.raises(ValueError, match="no ablation arm"):
        ablation.arm_of("keras", "keras", {})
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    matched = schema["properties"]["ablation"]["properties"]["matched_init"]["properties"]
    assert matched["arms"]["items"]["enum"] == list(ablation.ARMS)
    for gap in ablation.GAPS.values():
        assert {gap.torch, gap.keras} <= set(ablation.ARMS)
        assert ablation.ARMS[gap.torch].framework == "torch"
        assert ablation.ARMS[gap.keras].framework == "keras"


def _adam_runs(placement: str, gradients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parameters after each step of torch's Adam (with ``placement``) and Keras' Adam
    from the same start, on the same gradients."""
    import keras
    import torch

    from convstudy.frameworks.torch import ADAM_EPSILON, keras_epsilon_schedule

    start = np.linspace(-1.0, 1.0, gradients.shape[1]).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = torch.optim.Adam([param], lr=0.003, eps=ADAM_EPSILON)
    variable = keras.Variable(start.copy())
    keras_opt = keras.optimizers.Adam(learning_rate=0.003, epsilon=1e-7)
    torch_path, keras_path = [], []
    for step, grad in enumerate(gradients, start=1):
        param.grad = torch.from_numpy(grad.copy())
        if placement == "keras":
            keras_epsilon_schedule(opt, step)
        opt.step()
        keras_opt.apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
        torch_path.append(param.detach().numpy().copy())
        keras_path.append(np.asarray(variable.numpy()))
    return np.array(torch_path), np.array(keras_path)


def test_keras_epsilon_placement_reproduces_keras_adam() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    # gradients from 1e-8 to 1e-2: where sqrt(v) is near epsilon, the placement matters
    scales = np.logspace(-8, -2, 16)
    gradients = (rng.normal(size=(200, 16)) * scales).astype(np.float32)
    torch_path, keras_path = _adam_runs("keras", gradients)
    # float32 rounding over 200 steps of size ~3e-3; the placement's effect is ~1e-4
    np.testing.assert_allclose(torch_path, keras_path, rtol=1e-5, atol=1e-6)
    own_path, _ = _adam_runs("framework", gradients)
    # torch's own placement moves the small-gradient parameters further, most at the start
    moved_own = np.abs(own_path[0] - np.linspace(-1.0, 1.0, 16))
    moved_keras = np.abs(keras_path[0] - np.linspace(-1.0, 1.0, 16))
    assert moved_own[0] > 10 * moved_keras[0]
    np.testing.assert_allclose(moved_own[-1], moved_keras[-1], rtol=1e-3)


def test_t_interval_is_students() -> None:
    values = [0.01, -0.02, 0.03, 0.0, 0.015]
    low, high = t_interval(values)
    half = 2.7764451051977987 * np.std(values, ddof=1) / math.sqrt(5)  # t(0.975, 4)
    assert low == pytest.approx(np.mean(values) - half)
    assert high == pytest.approx(np.mean(values) + half)
    assert all(math.isnan(b) for b in t_interval([0.3]))


def _cells() -> pd.DataFrame:
    """Five seeds: Keras 0.05 ahead with its own initialisers, level with PyTorch from
    PyTorch's initial weights; the epsilon arm equal to PyTorch up to noise."""
    rows = []
    noise = [0.004, -0.002, 0.001, -0.003, 0.0]
    for seed, e in enumerate(noise):
        curves = {
            "torch": [0.70, 0.76 + e, 0.75],
            "keras": [0.80, 0.81 + e, 0.80],
            "keras-from-torch": [0.70, 0.76 - e, 0.75],
            "torch-keras-eps": [0.70, 0.76 + e + noise[seed - 1], 0.75],
        }
        for arm, accuracies in curves.items():
            for epoch, acc in enumerate(accuracies, start=1):
                rows.append(
                    {"model": "lstm", "arm": arm, "seed": seed, "epoch": epoch,
                     "val_acc": acc, "val_loss": abs(epoch - 1.5), "seconds": 1.0}
                )  # fmt: skip
    return cell_rows(pd.DataFrame(rows))


def test_cells_peaks_and_arms_table() -> None:
    cells = _cells()
    torch0 = cells[(cells["arm"] == "torch") & (cells["seed"] == 0)].iloc[0]
    assert torch0["peak_acc"] == pytest.approx(0.764) and torch0["peak_epoch"] == 2
    assert torch0["final_acc"] == pytest.approx(0.75) and not torch0["peak_is_last"]
    table = arm_table(cells).set_index("arm")
    assert table.loc["keras", "peak_epoch"] == "2 (2-2)"
    assert table.loc["keras", "final_acc"] == "0.8000 [0.8000, 0.8000]"
    assert table.loc["torch", "peak_is_last"] == "0 of 5"
    assert table.loc["torch", "min_loss_epoch"] == "1 (1-1)"  # the first of equal losses


def test_gaps_effects_and_what_they_conclude() -> None:
    table = gap_table(_cells()).set_index(["name", "at"])
    own = table.loc[("own", "peak")]
    assert own["kind"] == "gap" and own["seeds"] == 5
    assert own["mean"] == pytest.approx(-0.05) and own["ci95_high"] < 0
    assert own["conclusion"].startswith("PyTorch - Keras at the peak, each framework's own")
    assert "-0.050 [-0.050, -0.050]" in own["conclusion"]
    # matched: torch - keras-from-torch = 2e per seed, mean 0: no gap, and the bound it puts
    matched = table.loc[("matched", "peak")]
    low, high = t_interval([0.008, -0.004, 0.002, -0.006, 0.0])
    assert (matched["ci95_low"], matched["ci95_high"]) == (round(low, 4), round(high, 4))
    assert f"no gap detected, |gap| < {max(-low, high):.3f} at 95%" in matched["conclusion"]
    effects = table[table["kind"] == "effect"]
    assert set(effects.index.get_level_values("name")) == {"matched-vs-own", "eps-vs-torch"}
    matched_effect = effects.loc[("matched-vs-own", "final")]
    assert matched_effect["mean"] == pytest.approx(0.05)
    assert matched_effect["conclusion"].startswith(
        "starting Keras from PyTorch's initial weights changes the gap at the last epoch by +0.050"
    )
    # no reverse arm ran: no reverse gap, no reverse effect
    assert "reverse" not in set(table.index.get_level_values("name"))


def test_sentences_say_no_more_than_the_interval() -> None:
    assert sentence("x", "peak", 5, 0.01, -0.02, 0.04) == (
        "PyTorch - Keras at the peak, x: no gap detected, |gap| < 0.040 at 95% "
        "(+0.010 [-0.020, +0.040] (95% t-interval over 5 seeds))"
    )
    assert sentence("doing y", "final", 5, 0.03, 0.01, 0.05, subject="the gap") == (
        "doing y changes the gap at the last epoch by +0.030 [+0.010, +0.050] "
        "(95% t-interval over 5 seeds)"
    )
    assert "no change of the gap detected" in sentence(
        "doing y", "peak", 5, 0.0, -0.01, 0.01, subject="the gap"
    )
    assert sentence("x", "peak", 1, 0.02, math.nan, math.nan).endswith("from 1 seed, no interval")


def test_the_report_job_writes_tables_figure_and_sentences(tmp_path: Path) -> None:
    from convstudy.jobs import ablation_init
    from convstudy.provenance import Provenance
    from convstudy.records import TrainingRecord

    provenance = Provenance(config_hash="abc", threads=1, versions={}, host={"os": "x"})

    folders = []
    for arm_name, arm in ablation.ARMS.items():
        for seed in range(3):
            history = [
                {"epoch": e, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.5,
                 "val_acc": 0.7 + 0.01 * e + 0.001 * seed, "seconds": 1.0}
                for e in (1, 2, 3)
            ]  # fmt: skip
            hyper = ablation.arm_hyper({"optimizer": "adam", "epochs": 3}, arm_name, None)
            record = TrainingRecord(
                model="gru", framework=arm.framework, seed=seed, init=arm.init,
                provenance=provenance, dataset="imdb", dataset_sha256="0", dataset_exact=True,
                input_shape=[8], num_classes=2, parameters=1, epochs=3, seconds_per_epoch=1.0,
                final_val_acc=history[-1]["val_acc"], wall_seconds=3.0, hyper=hyper,
                history=history,
            )  # fmt: skip
            folder = tmp_path / "models" / arm_name / str(seed)
            record.dump(folder / TrainingRecord.FILE)
            folders.append(folder)
    out = tmp_path / "report"
    ablation_init.run(models=folders, out_dir=out)
    arms = pd.read_csv(out / "ablation_init.csv")
    assert list(arms["arm"]) == list(ablation.ARMS) and (arms["peak_is_last"] == "3 of 3").all()
    gaps = pd.read_csv(out / "ablation_init_gaps.csv")
    assert set(gaps["name"]) == {*ablation.GAPS, *ablation.EFFECTS}
    assert gaps["conclusion"].str.contains("no gap detected|no change of").all()
    assert (out / "ablation_init_curves.png").stat().st_size > 0
    assert len(pd.read_csv(out / "ablation_init_epochs.csv")) == len(folders) * 3
    with pytest.raises(ValueError, match="is also"):
        ablation_init.run(models=[*folders, folders[0]], out_dir=out)
