"""Converted targets of a faithful export, made with the real tools, to plant into.

Beside the float ONNX exports (:mod:`.exports`), a model as users have it is often
quantized or has been through onnx2tf:

- TFLite from the study's Keras twin with TensorFlow's converter: dynamic-range
  (``Optimize.DEFAULT``: int8 weights, float inputs), float16 weights, full int8 calibrated
  on real images with float inputs and with int8 inputs and outputs;
- ONNX from the dynamo export with onnxruntime's quantization tools: ``quantize_static``
  (calibrated on real images, per-channel int8) in QDQ and in QOperator form, and
  ``quantize_dynamic``;
- a TF SavedModel from the dynamo export with onnx2tf (the matrix's ``onnx+savedmodel``).

Each target is opened as the localization opens any model (its format's verified view,
:func:`~convstudy.localization.io.views.open_view`). Calibration and evaluation images are
read from the study's dataset copy (disjoint slices of its test split).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The converted targets, in the evaluation table's order.
TARGETS = (
    "tflite-dynamic",
    "tflite-float16",
    "tflite-int8",
    "tflite-int8-io",
    "onnx-qdq",
    "onnx-qoperator",
    "onnx-dynamic",
    "savedmodel-onnx2tf",
)
#: Images a calibration reads (the converters' and onnxruntime's representative data).
CALIBRATION = 64


def real_images(model: str, data_dir: Path, start: int, n: int) -> np.ndarray:
    """``n`` test images of ``model``'s dataset from index ``start``, as float NHWC in
    [0, 1] (the study's input scaling)."""
    from convstudy import registry
    from convstudy.data.readers import read_cifar_npz, read_idx

    dataset = registry.model(model).dataset
    if dataset == "mnist":
        images = read_idx(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")[..., None]
    elif dataset == "cifar10":
        images = read_cifar_npz(
            data_dir / "cifar10" / "cifar10_train.npz", data_dir / "cifar10" / "cifar10_test.npz"
        )["x_test"]
    else:
        raise ValueError(f"{model}: quantized targets are built for image models only")
    return (images[start : start + n].astype(np.float32) / 255.0).astype(np.float32)


def _tflite(folder: Path, calibration: np.ndarray, kind: str, out: Path) -> Path:
    import tensorflow as tf

    from convstudy import frameworks
    from convstudy.spec import ModelSpec

    net = frameworks.load(folder / "keras", ModelSpec.load(folder / "keras"))
    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "tflite-float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind in ("tflite-int8", "tflite-int8-io"):

        def representative() -> object:
            for k in range(len(calibration)):
                yield [calibration[k : k + 1]]

        converter.representative_dataset = representative
    if kind == "tflite-int8-io":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    out.write_bytes(converter.convert())
    return out


def _onnx_quantized(folder: Path, calibration: np.ndarray, kind: str, out: Path) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = folder / "prepared.onnx"
    if not prepared.exists():
        quant_pre_process(str(folder / "dynamo.onnx"), str(prepared))
    if kind == "onnx-dynamic":
        quantize_dynamic(str(prepared), str(out))
        return out
    nchw = np.ascontiguousarray(calibration.transpose(0, 3, 1, 2))

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter([{"x": nchw[k : k + 1]} for k in range(len(nchw))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    form = QuantFormat.QDQ if kind == "onnx-qdq" else QuantFormat.QOperator
    quantize_static(str(prepared), str(out), Reader(), quant_format=form, per_channel=True)
    return out


def _onnx2tf(folder: Path, calibration: np.ndarray, kind: str, out: Path) -> Path:
    from convstudy.converters import onnx2tf, torch_onnx
    from convstudy.spec import ModelSpec

    onnx_folder = folder / "onnx"
    if not onnx_folder.exists():
        onnx_folder.mkdir()
        spec = ModelSpec.load(folder / "torch")
        settings = {"exporter": "dynamo", "opset": 18}
        converted = torch_onnx.convert(
            folder / "torch", spec, onnx_folder / "model.onnx", settings=settings
        )
        converted.spec.dump(onnx_folder)
    out.mkdir()
    artifact = out / "model.savedmodel"
    converted = onnx2tf.convert(onnx_folder, ModelSpec.load(onnx_folder), artifact, settings={})
    converted.spec.dump(out)
    return out


_MAKERS: dict[str, Callable[[Path, np.ndarray, str, Path], Path]] = {
    "tflite-dynamic": _tflite,
    "tflite-float16": _tflite,
    "tflite-int8": _tflite,
    "tflite-int8-io": _tflite,
    "onnx-qdq": _onnx_quantized,
    "onnx-qoperator": _onnx_quantized,
    "onnx-dynamic": _onnx_quantized,
    "savedmodel-onnx2tf": _onnx2tf,
}
_SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "savedmodel": ""}


def make(kind: str, folder: Path, calibration: np.ndarray) -> Path:
    """The target ``kind`` of the faithful exports :func:`~.exports.faithful` wrote in
    ``folder``, calibrated on ``calibration`` (float NHWC images)."""
    out = folder / f"{kind}{_SUFFIX[kind.split('-')[0]]}"
    return _MAKERS[kind](folder, calibration, kind, out)
