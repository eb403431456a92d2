"""Job functions and the tables built from their records, on small hand-made inputs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import model_folder, prepared_file

from convstudy.errors import DataError
from convstudy.gather import gather_table
from convstudy.jobs import compare, predict
from convstudy.provenance import Provenance, read_json
from convstudy.records import ComparisonRecord, ConversionRecord, PredictionRecord, TrainingRecord
from convstudy.report.tables import table1_accuracy, table2_errors, table3_time, table4_size
from convstudy.spec import InputLayout, ModelSpec
from convstudy.timing import run_timed, summary

PROVENANCE = Provenance(config_hash="abc", threads=1, versions={"torch": "1"}, host={"os": "x"})
EVALUATION = {"batch_size": 4, "warmup": 1, "repeats": 5, "n_test": 8}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared-dataset file shaped like MNIST's, with varied images, and its provenance."""
    folder = tmp_path_factory.mktemp("data")
    return prepared_file(folder, "mnist", (28, 28, 1), exact=True, npz_sha256="f" * 64)


def prediction(
    target: str, seed: int, accuracy: float | None, **fields: object
) -> PredictionRecord:
    record = PredictionRecord(
        model="lenet5", framework="torch", seed=seed, target=target, runtime="r",
        runtime_version="1", n_eval=8, batch_size=4, accuracy=accuracy, size_bytes=2_000_000,
        load_median=0.5, inference_median=0.1, inference_iqr=0.01, provenance=PROVENANCE,
        **fields,
    )  # fmt: skip
    if accuracy is None:
        record.skip("CoreML runtime is macOS-only")
    return record


def test_records_round_trip_and_refuse_another_kind(tmp_path: Path) -> None:
    record = prediction("onnx", 0, 0.5, inference_seconds=[0.1, 0.2])
    path = record.dump(tmp_path / "r.json")
    assert PredictionRecord.load(path) == record
    with pytest.raises(DataError, match="a PredictionRecord record, expected ComparisonRecord"):
        ComparisonRecord.load(path)
    with pytest.raises(ValueError, match="status"):
        prediction("onnx", 0, 0.5, status="crashed")


def test_flat_rows_carry_provenance() -> None:
    row = prediction("onnx", 3, 0.5, inference_seconds=[0.1, 0.2]).flat()
    assert row["seed"] == 3 and row["config_hash"] == "abc" and row["version_torch"] == "1"
    assert row["inference_seconds"] == "0.1;0.2" and row["host_os"] == "x"
    history = [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}]
    training = TrainingRecord(
        model="lenet5", framework="torch", seed=0, dataset="mnist", dataset_sha256="s",
        dataset_exact=True, input_shape=[28, 28, 1], num_classes=10, parameters=5, epochs=2,
        seconds_per_epoch=1.0, final_val_acc=0.7, wall_seconds=2.0, hyper={"lr": 0.1},
        history=history, provenance=PROVENANCE,
    )  # fmt: skip
    rows = training.rows()
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["parameters"] == 5 for r in rows)


def test_gather_and_report_pivot_with_not_run_note(tmp_path: Path, prepared: Path) -> None:
    paths = []
    for seed, onnx_acc in ((0, 0.5), (1, 0.7)):
        for target, acc in (("original", 0.6), ("onnx", onnx_acc), ("coreml-fp32", None)):
            paths.append(prediction(target, seed, acc).dump(tmp_path / f"{seed}{target}.json"))
    frame = gather_table("predictions", paths, [prepared.with_suffix(".json")], "study")
    assert len(frame) == 6 and set(frame["dataset"]) == {"mnist"}
    assert set(frame["study_config_hash"]) == {"study"} and frame["dataset_exact"].all()
    table = table1_accuracy(frame)
    assert list(table.columns) == ["model", "framework", "original", "onnx", "coreml-fp32"]
    row = table.iloc[0]
    # mean ± std over the seeds, then the Wilson interval of the 16 inputs of both seeds
    assert row["original"] == "0.6000 ± 0.0000 [0.386, 0.815]"
    assert row["onnx"] == "0.6000 ± 0.1414 [0.386, 0.815]"
    assert row["coreml-fp32"] == "not run"
    times = table3_time(frame)
    assert list(times["target"]) == ["original", "onnx", "coreml-fp32"]
    assert times.loc[2, "note"] == "CoreML runtime is macOS-only" and times.loc[0, "note"] == ""
    sizes = table4_size(frame)  # sizes are measured also where the runtime cannot run
    assert sizes.iloc[0]["coreml-fp32"] == "2.000 ± 0.000"


def test_table2_groups_formats_in_order() -> None:
    rows = [
        {"model": "gru", "framework": "keras", "format": f, "seed": s, "status": "ok",
         "reason": "", "abs_error_prob": 1e-7 * (s + 1), "max_abs_error_logit": 1e-6,
         "rel_error_published_logit": 1e-6, "rel_error_norm_logit": 1e-6,
         "disagreement": 0.0, "nonfinite_samples": 0.0}
        for f in ("onnx", "coreml-fp16") for s in (0, 1)
    ]  # fmt: skip
    table = table2_errors(pd.DataFrame(rows))
    assert list(table["format"]) == ["onnx", "coreml-fp16"]
    assert table.loc[0, "abs_error_prob"] == "1.50e-07 ± 7.07e-08" and table.loc[0, "seeds"] == 2
    assert table.loc[0, "nonfinite_samples"] == "0 ± 0"


def _outputs(path: Path, outputs: np.ndarray, labels: list[int], digest: str = "a" * 64) -> None:
    np.savez(path, outputs=outputs, labels=np.array(labels), inputs_sha256=np.array(digest))


def test_compare_refuses_outputs_of_other_inputs(tmp_path: Path) -> None:
    outputs = np.eye(3, dtype=np.float32)
    _outputs(tmp_path / "original.npz", outputs, [0, 1, 2])
    prediction("onnx", 0, 1.0).dump(tmp_path / "onnx.json")
    paths = {
        "original": tmp_path / "original.npz", "converted": tmp_path / "onnx.npz",
        "converted_record": tmp_path / "onnx.json", "out": tmp_path / "m.json",
    }  # fmt: skip
    _outputs(tmp_path / "onnx.npz", outputs, [0, 2, 1])
    with pytest.raises(DataError, match="evaluated on other samples"):
        compare.run(**paths)
    # same labels, other inputs: only the input hash can tell
    _outputs(tmp_path / "onnx.npz", outputs, [0, 1, 2], digest="b" * 64)
    with pytest.raises(DataError, match="evaluated on other inputs"):
        compare.run(**paths)
    np.savez(tmp_path / "onnx.npz", outputs=outputs, labels=np.array([0, 1, 2]))
    with pytest.raises(DataError, match="input sha256 missing"):
        compare.run(**paths)
    _outputs(tmp_path / "onnx.npz", outputs * 2, [0, 1, 2])
    record = compare.run(**paths)
    assert record.status == "ok" and record.metrics["disagreement"] == 0.0
    assert record.metrics["max_abs_error_logit"] == 1.0 and record.inputs_sha256 == "a" * 64


def test_compare_counts_nonfinite_outputs(tmp_path: Path) -> None:
    original = np.array([[0.0, 5.0], [3.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    converted = original.copy()
    converted[1] = [np.nan, np.nan]  # e.g. an FP16 overflow: argmax would call it class 0
    _outputs(tmp_path / "original.npz", original, [1, 0, 0])
    _outputs(tmp_path / "onnx.npz", converted, [1, 0, 0])
    prediction("onnx", 0, 1.0).dump(tmp_path / "onnx.json")
    record = compare.run(
        original=tmp_path / "original.npz", converted=tmp_path / "onnx.npz",
        converted_record=tmp_path / "onnx.json", out=tmp_path / "m.json",
    )  # fmt: skip
    assert record.metrics["nonfinite_samples"] == 1
    assert record.metrics["disagreement"] == pytest.approx(1 / 3)
    assert record.metrics["abs_error_logit"] == 0.0  # over the two finite samples
    assert ComparisonRecord.load(tmp_path / "m.json").flat()["nonfinite_samples"] == 1


def test_predict_does_not_run_after_a_failed_conversion(tmp_path: Path, prepared: Path) -> None:
    failed = ConversionRecord(
        model="lenet5", framework="torch", seed=0, route="onnx", source_format="torch",
        format="onnx", provenance=PROVENANCE,
    )  # fmt: skip
    failed.fail(RuntimeError("Unsupported operator Foo\nmore lines"))
    failed.dump(tmp_path / "onnx" / ConversionRecord.FILE)
    record = predict.run(
        model="lenet5", framework="torch", seed=0, target="onnx", source=tmp_path / "onnx",
        data_path=prepared, evaluation=EVALUATION, threads=1,
        outputs_out=tmp_path / "o.npz", record_out=tmp_path / "o.json",
    )  # fmt: skip
    assert record.status == "not_run"
    assert "RuntimeError: Unsupported operator Foo" in record.reason
    assert "more lines" not in record.reason
    assert np.load(tmp_path / "o.npz")["outputs"].size == 0


def test_predict_runs_the_original(tmp_path: Path, prepared: Path) -> None:
    folder = model_folder(tmp_path / "model", "lenet5", "torch")
    record = predict.run(
        model="lenet5", framework="torch", seed=0, target="original", source=folder,
        data_path=prepared, evaluation=EVALUATION, threads=1,
        outputs_out=tmp_path / "o.npz", record_out=tmp_path / "o.json",
    )  # fmt: skip
    assert record.status == "ok" and record.runtime == "torch" and record.n_eval == 8
    assert len(record.inference_seconds) == 5 and len(record.load_seconds) == 5
    assert record.load_median is not None and record.load_median > 0
    assert record.thread_counts["torch_intra_op"] == 1 and record.nonfinite_samples == 0
    assert record.provenance.host["cpu"] and record.inputs_sha256
    with np.load(tmp_path / "o.npz") as saved:
        assert saved["outputs"].shape == (8, 10)
        assert str(saved["inputs_sha256"]) == record.inputs_sha256


def test_run_timed_warms_up_then_times_each_repeat() -> None:
    calls: list[int] = []

    def slow_identity(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        time.sleep(0.01)
        return x * 2

    x = np.arange(10.0).reshape(5, 2)
    outputs, times = run_timed(slow_identity, x, batch_size=2, warmup=1, repeats=3)
    np.testing.assert_array_equal(outputs, x * 2)
    assert calls == [2, 2, 1] * 4  # one warm-up pass, three timed, in batches of 2
    assert len(times) == 3 and all(t >= 0.03 for t in times)
    stats = summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats == {"median": 3.0, "iqr": 2.0, "min": 1.0, "max": 100.0}
    with pytest.raises(ValueError, match="repeats"):
        run_timed(slow_identity, x, batch_size=2, warmup=0, repeats=0)


def test_spec_round_trip_and_layouts(tmp_path: Path) -> None:
    spec = ModelSpec(
        model="gru", dataset="imdb", format="keras", input_shape=(4,), num_classes=2,
        layout=InputLayout(axes="NL", dtype="int32", scale=None), arch={"vocab_size": 9},
        vocab=tuple("abcdefghi"),
    )  # fmt: skip
    spec.dump(tmp_path)
    assert ModelSpec.load(tmp_path) == spec
    converted = spec.converted("onnx", dtype="int64", name="input_1")
    assert converted.layout == InputLayout(axes="NL", dtype="int64", scale=None, name="input_1")
    assert converted.example().dtype == np.int64 and converted.example().max() < 9
    images = InputLayout(axes="NCHW", dtype="float32", scale=255.0)
    x = np.full((1, 2, 3, 1), 255, dtype=np.uint8)
    assert images.prepare(x).shape == (1, 1, 2, 3) and images.prepare(x).max() == 1.0
    with pytest.raises(DataError, match="spec.json: missing"):
        ModelSpec.load(tmp_path / "nothing")


@pytest.mark.parametrize(("model", "framework", "source"), [
    ("lenet5", "keras", "torch"), ("gru", "keras", "torch"), ("lstm", "torch", "keras"),
])  # fmt: skip
def test_initial_weights_come_from_the_other_frameworks_cell_of_the_seed(
    tmp_path: Path, model: str, framework: str, source: str
) -> None:
    from helpers import neutral_inputs

    from convstudy import models
    from convstudy.frameworks import adapter
    from convstudy.jobs.train import initial_weights_from

    spec = ModelSpec.load(model_folder(tmp_path, model, framework))
    build = {"input_shape": spec.input_shape, "num_classes": spec.num_classes, "arch": spec.arch}
    net = models.build(model, framework, **build)
    initial_weights_from(source, net, model, spec, seed=3, threads=1)
    adapter(source).seed(3)
    reference = models.build(model, source, **build)  # what the source's cell of seed 3 starts from
    x = neutral_inputs(model)
    outputs = {}
    for fw, candidate in ((framework, net), (source, reference)):
        layout = models.input_layout(model, fw)
        outputs[fw] = adapter(fw).predictor(candidate)(layout.prepare(x))
    np.testing.assert_allclose(outputs[framework], outputs[source], atol=1e-4)


def test_train_refuses_an_init_of_its_own_framework(tmp_path: Path) -> None:
    from convstudy.jobs import train

    with pytest.raises(ValueError, match="init 'torch' for torch"):
        train.run(
            model="gru", framework="torch", seed=0, data_path=tmp_path / "none.npz",
            hyper={}, threads=1, out_dir=tmp_path / "out", init="torch",
        )  # fmt: skip


def test_localization_pairs_keep_only_what_exceeds_the_trigger(tmp_path: Path) -> None:
    from convstudy.jobs import localization_pairs

    def comparison(route: str, status: str = "ok", **metrics: float) -> Path:
        record = ComparisonRecord(
            model="lenet5", framework="torch", seed=0, provenance=PROVENANCE,
            format=route, n_eval=10, metrics=metrics, status=status,
        )  # fmt: skip
        return record.dump(tmp_path / f"{route}.json")

    files = [
        comparison("onnx", disagreement=0.0, rel_error_norm_logit=2e-7),  # FP32 round-off
        comparison("onnx+onnx-fp16", disagreement=0.0, rel_error_norm_logit=2e-4),
        comparison("tflite", disagreement=0.01, rel_error_norm_logit=1e-6),
        comparison("coreml-fp32", status="not_run"),  # no numbers: nothing to localize
    ]
    trigger = {"disagreement": 0.0, "rel_error_norm_logit": 1e-5}
    pairs = localization_pairs.run(comparisons=files, trigger=trigger, out=tmp_path / "p.json")
    assert [p["route"] for p in pairs] == ["onnx+onnx-fp16", "tflite"]
    assert pairs[1]["why"] == "disagreement 0.01 > 0"
    assert read_json(tmp_path / "p.json")["pairs"] == pairs
    with pytest.raises(KeyError, match="unknown metric"):
        localization_pairs.exceeded({}, {"accuracy": 0.5})
