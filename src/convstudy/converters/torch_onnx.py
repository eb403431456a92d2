"""PyTorch to ONNX with torch.onnx: the dynamo exporter (torch's default) or TorchScript."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import frameworks
from convstudy.converters import Converted
from convstudy.converters.onnx_facts import opset_written, strip_local_metadata
from convstudy.spec import ModelSpec

INPUT_NAME = "x"
OUTPUT_NAME = "logits"


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Export the trained torch model of ``source`` to ``out`` with a dynamic batch axis."""
    import torch

    model = frameworks.load(source, spec)
    x = torch.from_numpy(spec.example())
    if settings["exporter"] == "dynamo":
        torch.onnx.export(
            model,
            (x,),
            str(out),
            dynamo=True,
            opset_version=settings["opset"],
            external_data=False,  # one self-contained file, so that its size is comparable
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
        # the exporter records each node's Python stack trace, with this checkout's and
        # this environment's paths: the same model must be the same bytes everywhere
        strip_local_metadata(out)
    else:
        torch.onnx.export(
            model,
            (x,),
            str(out),
            dynamo=False,
            opset_version=settings["opset"],
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    facts = {
        "converter": f"torch.onnx ({settings['exporter']})",
        "opset": opset_written(out),
        "opset_requested": settings["opset"],
    }
    return Converted(spec.converted("onnx", name=INPUT_NAME), facts)
