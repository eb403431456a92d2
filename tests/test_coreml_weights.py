"""The CoreML weight read-back without a converter: the matching of source tensors against
constants stored the ways coremltools stores them, and the reader on a package written
here byte by byte (no framework, no coremltools package init)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convstudy import coreml_proto, coreml_read
from convstudy.coreml_weights import compare, counts

RNG = np.random.default_rng(0)


def normal(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.1, shape).astype(np.float32)


def batchnorm(prefix: str, channels: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    values = (normal(channels) + 1, normal(channels), normal(channels), normal(channels) ** 2 + 1)
    return {f"{prefix}{name}": value for name, value in zip(names, values)}


TORCH_BN = (".weight", ".bias", ".running_mean", ".running_var")
KERAS_BN = ("/gamma", "/beta", "/moving_mean", "/moving_variance")


def folded(
    weight: np.ndarray, bias: np.ndarray | float, bn: list[np.ndarray], axis: int
) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = bn
    scale = gamma / np.sqrt(var + 1e-5)
    shape = [1] * weight.ndim
    shape[axis] = -1
    return weight * scale.reshape(shape), (bias - mean) * scale + beta


def rows_by_tensor(rows: list[dict]) -> dict[str, dict]:
    return {row["tensor"]: row for row in rows}


def test_batchnorm_folded_into_a_torch_convolution_is_explained() -> None:
    source = {"layer1.0.conv1.weight": normal(8, 4, 3, 3)}
    source |= batchnorm("layer1.0.bn1", 8, TORCH_BN)
    source |= {"fc.weight": normal(2, 8), "fc.bias": normal(2)}
    weight, bias = folded(source["layer1.0.conv1.weight"], 0.0, list(source.values())[1:5], 0)
    consts = {
        "const_0": weight,
        "const_1": bias,
        "fc_weight": source["fc.weight"],
        "fc_bias": source["fc.bias"],
    }
    rows = compare(source, {k: np.asarray(v, np.float32) for k, v in consts.items()})
    assert [row["tensor"] for row in rows] == list(source)  # one row each, in source order
    assert counts(rows) == {"matched": 2, "explained": 5, "unexplained": 0}
    by = rows_by_tensor(rows)
    assert by["layer1.0.conv1.weight"]["const"] == "const_0"
    assert by["layer1.0.bn1.running_var"]["const"] == "const_0,const_1"  # in weight and bias
    assert {by[n]["rewrite"] for n in source if "layer1" in n} == {"bn-folded"}
    assert by["fc.weight"]["rewrite"] == "identity" and by["fc.weight"]["max_abs_diff"] == 0.0


def test_a_folded_bias_that_differs_stays_an_unexplained_row_with_its_numbers() -> None:
    source = {"conv1_1.weight": normal(8, 3, 3, 3), "conv1_1.bias": normal(8)}
    source |= batchnorm("bn1_1", 8, TORCH_BN)
    weight, bias = folded(
        source["conv1_1.weight"], source["conv1_1.bias"], list(source.values())[2:], 0
    )
    rows = compare(source, {"w": weight.astype(np.float32), "b": (bias + 0.01).astype(np.float32)})
    by = rows_by_tensor(rows)
    assert by["conv1_1.weight"]["status"] == "explained"
    for name in ("conv1_1.bias", "bn1_1.weight", "bn1_1.bias", "bn1_1.running_mean"):
        assert by[name]["status"] == "unexplained" and not by[name]["match"]
        assert by[name]["max_abs_diff"] == pytest.approx(0.01, rel=1e-3)
        assert "closest const differs" in by[name]["note"]


def test_keras_batchnorm_folded_transposed_and_cast_to_fp16() -> None:
    source = {"conv1/kernel": normal(3, 3, 4, 8)} | batchnorm("bn1", 8, KERAS_BN)
    weight, bias = folded(source["conv1/kernel"], 0.0, list(source.values())[1:], -1)
    consts = {"w": weight.transpose(3, 2, 0, 1).astype(np.float16), "b": bias.astype(np.float16)}
    rows = compare(source, consts)
    assert counts(rows)["explained"] == 5
    assert rows_by_tensor(rows)["conv1/kernel"]["rewrite"] == "bn-folded+transposed+cast-fp16"
    # FP16 rounding stays within the FP16 tolerance, not within FP32's
    assert 0 < max(row["max_abs_diff"] for row in rows) < 1e-3


def test_torch_lstm_gates_reordered_with_summed_biases() -> None:
    hidden = 4
    source = {
        "lstm.weight_ih_l0": normal(4 * hidden, 3),
        "lstm.weight_hh_l0": normal(4 * hidden, hidden),
        "lstm.bias_ih_l0": normal(4 * hidden),
        "lstm.bias_hh_l0": normal(4 * hidden),
    }

    def ifog(x: np.ndarray) -> np.ndarray:
        i, f, g, o = np.split(x, 4)
        return np.concatenate([i, f, o, g])

    summed = source["lstm.bias_ih_l0"] + source["lstm.bias_hh_l0"]
    consts = {
        "concat_3": ifog(source["lstm.weight_ih_l0"]),
        "concat_4": ifog(source["lstm.weight_hh_l0"]),
        "concat_2": ifog(summed),
    }
    rows = rows_by_tensor(compare(source, consts))
    assert {row["status"] for row in rows.values()} == {"explained"}
    assert rows["lstm.weight_ih_l0"]["rewrite"] == "gates-reordered"
    assert rows["lstm.bias_hh_l0"]["rewrite"] == "gates-reordered+biases-summed"
    assert rows["lstm.bias_hh_l0"]["const"] == "concat_2"


def test_torch_gru_gates_split_and_keras_gru_bias_rows_split() -> None:
    hidden = 4
    torch_source = {
        "gru.weight_ih_l0": normal(3 * hidden, 5),
        "gru.weight_hh_l0": normal(3 * hidden, hidden),
        "gru.bias_ih_l0": normal(3 * hidden),
        "gru.bias_hh_l0": normal(3 * hidden),
    }
    consts = {
        f"linear_{name}_{g}": chunk
        for name, value in torch_source.items()
        for g, chunk in enumerate(np.split(value, 3))
    }
    rows = compare(torch_source, consts)
    assert {row["rewrite"] for row in rows} == {"gates-split"} and counts(rows)["explained"] == 4
    keras_source = {
        "gru/gru_cell/kernel": normal(5, 3 * hidden),
        "gru/gru_cell/recurrent_kernel": normal(hidden, 3 * hidden),
        "gru/gru_cell/bias": normal(2, 3 * hidden),
    }
    consts = {
        "kernel": keras_source["gru/gru_cell/kernel"],
        "recurrent": keras_source["gru/gru_cell/recurrent_kernel"],
        "squeeze": keras_source["gru/gru_cell/bias"][0],
        "squeeze_1": keras_source["gru/gru_cell/bias"][1],
    }
    rows = rows_by_tensor(compare(keras_source, consts))
    assert rows["gru/gru_cell/bias"]["rewrite"] == "bias-split"
    assert rows["gru/gru_cell/bias"]["const"] == "squeeze,squeeze_1"
    assert rows["gru/gru_cell/kernel"]["status"] == "matched"


def test_a_tensor_without_a_const_is_unexplained() -> None:
    rows = compare({"fc.weight": normal(2, 8), "fc.bias": normal(2)}, {"w": normal(2, 8)})
    by = rows_by_tensor(rows)
    assert by["fc.weight"]["status"] == "unexplained" and by["fc.weight"]["const"] == "w"
    assert by["fc.bias"]["const"] is None and by["fc.bias"]["note"].startswith("no const")
    assert counts(rows) == {"matched": 0, "explained": 0, "unexplained": 2}


# ---- the reader, on a package written here


def write_package(folder: Path, weight: np.ndarray, bias: np.ndarray) -> Path:
    """An ``.mlpackage`` with one const in the blob file and one inline."""
    mil = coreml_proto.module("MIL_pb2")
    model = coreml_proto.module("Model_pb2").Model(specificationVersion=6)
    function = model.mlProgram.functions["main"]
    function.opset = "CoreML5"
    block = function.block_specializations["CoreML5"]
    dtype = {np.dtype(np.float16): mil.FLOAT16, np.dtype(np.float32): mil.FLOAT32}
    for name, value in (("fc_weight", weight), ("fc_bias", bias)):
        op = block.operations.add(type="const")
        op.outputs.add(name=name)
        op.attributes["name"].immediateValue.tensor.strings.values.append(name)
        val = op.attributes["val"]
        val.type.tensorType.dataType = dtype[value.dtype]
        val.type.tensorType.rank = value.ndim
        for size in value.shape:
            val.type.tensorType.dimensions.add().constant.size = size
        if name == "fc_weight":
            val.blobFileValue.fileName = "@model_path/weights/weight.bin"
            val.blobFileValue.offset = 64
        else:
            val.immediateValue.tensor.bytes.values = value.tobytes()
    data = folder / "model.mlpackage" / "Data" / "com.apple.CoreML"
    (data / "weights").mkdir(parents=True)
    (data / "model.mlmodel").write_bytes(model.SerializeToString())
    header = np.zeros(16, "<u4")
    header[:2] = (1, 2)
    meta = np.zeros(1, coreml_read._BLOB_METADATA)
    meta[0]["sentinel"], meta[0]["dtype"] = 0xDEADBEEF, 1
    meta[0]["size"], meta[0]["offset"] = weight.nbytes, 128
    (data / "weights" / "weight.bin").write_bytes(
        header.tobytes() + meta.tobytes() + weight.tobytes()
    )
    manifest = {
        "fileFormatVersion": "1.0.0",
        "itemInfoEntries": {"m": {"path": "com.apple.CoreML/model.mlmodel"}},
        "rootModelIdentifier": "m",
    }
    (folder / "model.mlpackage" / "Manifest.json").write_text(json.dumps(manifest))
    return folder / "model.mlpackage"


def test_reader_reads_blob_and_inline_fp16_consts(tmp_path: Path) -> None:
    weight, bias = normal(3, 4).astype(np.float16), normal(3).astype(np.float16)
    package = write_package(tmp_path, weight, bias)
    read = coreml_read.read_weights(package)
    assert list(read) == ["fc_weight", "fc_bias"]
    np.testing.assert_array_equal(read["fc_weight"], weight)
    np.testing.assert_array_equal(read["fc_bias"], bias)
    assert read["fc_weight"].dtype == np.float16


def test_reader_names_the_file_of_a_broken_blob(tmp_path: Path) -> None:
    package = write_package(tmp_path, normal(3, 4).astype(np.float16), normal(3).astype(np.float16))
    blob = package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    blob.write_bytes(blob.read_bytes()[:64] + b"\0" * 64)
    with pytest.raises(ValueError, match=f"{blob}: no blob metadata at offset 64"):
        coreml_read.read_weights(package)
