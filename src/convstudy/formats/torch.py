"""PyTorch ``state_dict`` files: a trained study model, in PyTorch.

A state_dict holds weights, not the architecture: a file a user brings is opened with the
architecture of a study model (``convstudy localize --model NAME``), ``weights_only``.
"""

from __future__ import annotations

from pathlib import Path

from convstudy.errors import ConfigError
from convstudy.formats import OnnxView, Signature
from convstudy.formats.framework import VIEW_OPSET, load, study_view, thread_counts, use_device
from convstudy.spec import ModelSpec

__all__ = ["ARTIFACT", "detect", "load", "onnx_view", "signature", "thread_counts", "use_device"]

ARTIFACT = "model.torch"
SUFFIXES = (".torch", ".pt", ".pth")


def detect(path: Path) -> str | None:
    return "torch" if path.is_file() and path.suffix.lower() in SUFFIXES else None


def signature(artifact: Path) -> Signature:
    raise ConfigError(
        f"{artifact}: a PyTorch state_dict holds weights, not a model; export it to ONNX "
        "(torch.onnx.export) and bring that"
    )


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    """Exported with torch.onnx's dynamo exporter (the study's own converter)."""
    if spec is None:
        raise ValueError("a state_dict needs the model's name (--model NAME)")
    return study_view(artifact, spec, {"opset": VIEW_OPSET, "exporter": "dynamo"})
