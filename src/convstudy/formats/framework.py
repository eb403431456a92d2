"""What the two training frameworks' formats share: their runtime is the framework itself
(:mod:`convstudy.frameworks`), and their ONNX view is the study's own converter to ONNX."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.formats import OnnxView, Predict, convert_with_registry
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec

#: Opset of the ONNX views the study's converters write.
VIEW_OPSET = 18


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Load the model with its framework adapter; return its inference function."""
    framework = adapter(spec.format)
    predict = framework.predictor(framework.load(artifact, spec))
    predict.framework = spec.format  # type: ignore[attr-defined]
    return predict


def use_device(requested: str, spec: ModelSpec) -> str:
    """Run the model on ``requested`` (see :meth:`convstudy.frameworks.Adapter.use_device`)."""
    return adapter(spec.format).use_device(requested)


def thread_counts(predict: Predict) -> dict[str, int]:
    """The framework's thread counts now."""
    return adapter(predict.framework).thread_counts()  # type: ignore[attr-defined]


def study_view(artifact: Path, spec: ModelSpec, settings: Mapping[str, Any]) -> OnnxView:
    """A study model folder's model through the study's converter to ONNX (``settings``)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        name = convert_with_registry(artifact.parent, spec, "onnx", out, settings)
        model = onnx.load(str(out))
    framework = adapter(spec.format)
    own = framework.predictor(framework.load(artifact, spec))
    return OnnxView(model, own, f"{name} (opset {settings['opset']})")
