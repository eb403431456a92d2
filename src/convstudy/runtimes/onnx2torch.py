"""PyTorch modules converted from ONNX by onnx2torch: rebuilt from the kept ONNX graph,
then given the kept tensors (``weights_only``), then run like a trained torch model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convstudy.frameworks import Predict, adapter
from convstudy.spec import ModelSpec


def rebuild(artifact: Path) -> Any:
    """The module of folder ``artifact``, in eval mode: rebuilt from the kept graph, given
    the kept tensors (loaded ``weights_only``)."""
    import onnx
    import torch

    from convstudy.converters.onnx2torch import GRAPH_FILE, WEIGHTS_FILE
    from convstudy.converters.onnx2torch_ops import build_module

    module = build_module(onnx.load(str(artifact / GRAPH_FILE)))
    state = torch.load(artifact / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return module.eval()


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
    """Rebuild the module of folder ``artifact``; return its inference function."""
    torch_adapter = adapter("torch")
    torch_adapter.limit_threads(threads)
    return torch_adapter.predictor(rebuild(artifact))
