"""A framework model (a trained model, or a converter's output in a framework's format) in
its own framework."""

from __future__ import annotations

from pathlib import Path

from convstudy.frameworks import Predict, adapter
from convstudy.spec import ModelSpec


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
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
