"""PyTorch and Keras to ONNX: torch.onnx (dynamo or TorchScript exporter) and tf2onnx."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

INPUT_NAME = "x"
OUTPUT_NAME = "logits"


def _torch(
    model: Any, path: Path, example: np.ndarray, settings: Mapping[str, Any]
) -> dict[str, Any]:
    import torch

    x = torch.from_numpy(example)
    if settings["exporter"] == "dynamo":
        torch.onnx.export(
            model,
            (x,),
            str(path),
            dynamo=True,
            opset_version=settings["opset"],
            external_data=False,  # one self-contained file, so that its size is comparable
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    else:
        torch.onnx.export(
            model,
            (x,),
            str(path),
            dynamo=False,
            opset_version=settings["opset"],
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return {"converter": f"torch.onnx ({settings['exporter']})"}


def _keras(
    model: Any, path: Path, example: np.ndarray, settings: Mapping[str, Any]
) -> dict[str, Any]:
    import tensorflow as tf
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 (KeyError 'keras_tensor_N'): convert the
    # inference function instead, which is what from_keras does internally on Keras 2.
    spec = (tf.TensorSpec((None, *example.shape[1:]), tf.as_dtype(example.dtype), name=INPUT_NAME),)
    function = tf.function(lambda x: {OUTPUT_NAME: model(x, training=False)})
    tf2onnx.convert.from_function(
        function, input_signature=spec, opset=settings["opset"], output_path=str(path)
    )
    return {"converter": "tf2onnx.convert.from_function"}


def convert(
    model: Any, path: Path, *, framework: str, example: np.ndarray, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Export ``model`` to ONNX at ``path``; return the exporter and the opset written."""
    import onnx

    facts = (_torch if framework == "torch" else _keras)(model, path, example, settings)
    written = onnx.load(str(path), load_external_data=False)
    facts["opset"] = next(o.version for o in written.opset_import if o.domain in ("", "ai.onnx"))
    facts["opset_requested"] = settings["opset"]
    return facts
