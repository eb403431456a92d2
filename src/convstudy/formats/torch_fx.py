"""PyTorch modules that onnx2torch built from ONNX (``torch-fx``): the model folder keeps
the ONNX graph the module is rebuilt from and the module's tensors as a ``state_dict``
(read back ``weights_only``), so a converted model loads as safely as a trained one."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.formats import OnnxView, Predict, Signature
from convstudy.formats.framework import VIEW_OPSET
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec

ARTIFACT = "model.onnx2torch"
#: Inside the artifact folder: the graph the module is rebuilt from, and its tensors.
GRAPH_FILE = "graph.onnx"
WEIGHTS_FILE = "state_dict.pt"


def detect(path: Path) -> str | None:
    """Not taken as a brought model: bring the ONNX file it was built from instead."""
    return None


def signature(artifact: Path) -> Signature:
    from convstudy.formats import onnx as onnx_format

    return onnx_format.signature(artifact / GRAPH_FILE)


def rebuild(artifact: Path) -> Any:
    """The module of folder ``artifact``, in eval mode: rebuilt from the kept graph, given
    the kept tensors (loaded ``weights_only``)."""
    import onnx
    import torch

    from convstudy.formats.onnx2torch_ops import build_module

    module = build_module(onnx.load(str(artifact / GRAPH_FILE)))
    state = torch.load(artifact / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return module.eval()


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Rebuild the module of folder ``artifact``; return its inference function."""
    torch_adapter = adapter("torch")
    torch_adapter.limit_threads(threads)
    return torch_adapter.predictor(rebuild(artifact))


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """The rebuilt module exported again with torch.onnx (TorchScript exporter: the fx
    modules of onnx2torch's converters trace, the dynamo exporter rejects some of them)."""
    import onnx
    import torch

    if spec is None:
        raise ValueError("a torch-fx folder needs its model folder (spec.json)")
    module = rebuild(artifact)
    example = torch.from_numpy(np.ascontiguousarray(spec.example(batch=2)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        try:
            torch.onnx.export(
                module, (example,), str(out), dynamo=False, opset_version=VIEW_OPSET,
                input_names=["x"], output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            )  # fmt: skip
        except Exception as exc:
            raise ValueError(f"torch.onnx failed: {exc}") from exc
        model = onnx.load(str(out))
    predict = adapter("torch").predictor(module)
    return OnnxView(model, predict, f"torch.onnx TorchScript (opset {VIEW_OPSET})")
