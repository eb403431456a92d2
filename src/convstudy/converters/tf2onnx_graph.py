"""A TF SavedModel or a TFLite file to ONNX with tf2onnx."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import registry
from convstudy.converters import Converted
from convstudy.converters.onnx_facts import opset_written
from convstudy.formats import savedmodel
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Convert the SavedModel or TFLite model of folder ``source`` into ``out``."""
    import onnx
    import tf2onnx

    artifact = source / registry.fmt(spec.format).artifact
    opset = settings["opset"]
    if spec.format.startswith("tflite"):
        tf2onnx.convert.from_tflite(str(artifact), opset=opset, output_path=str(out))
        how = "tf2onnx.convert.from_tflite"
    else:
        model, _ = savedmodel.to_onnx(artifact, opset)
        onnx.save(model, str(out))
        how = "tf2onnx saved-model entry point (serving_default, variables frozen)"
    # tf2onnx goes on past operators it cannot convert (e.g. Flex ops of a TFLite file)
    # and writes an invalid model: check it here so that such a hop is an error.
    onnx.checker.check_model(str(out), full_check=True)
    model = onnx.load(str(out), load_external_data=False)
    initialisers = {tensor.name for tensor in model.graph.initializer}
    (graph_input,) = [i for i in model.graph.input if i.name not in initialisers]
    tensor_type = graph_input.type.tensor_type
    shape = tuple(d.dim_value or None for d in tensor_type.shape.dim)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    facts = {"converter": how, "opset": opset_written(out), "opset_requested": opset}
    return Converted(spec.observed("onnx", shape=shape, dtype=dtype, name=graph_input.name), facts)
