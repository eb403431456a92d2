"""CoreML models in the CoreML runtime, which Apple ships for macOS only."""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.runtimes import NotRunnable


def load(path: Path, *, threads: int, **_: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Load ``path/model.mlpackage`` in the CoreML runtime; return its prediction function.

    Raises:
        NotRunnable: on any host but macOS, where ``MLModel.predict`` raises
            "Model prediction is only supported on macOS" and no other runtime exists.
    """
    if platform.system() != "Darwin":
        raise NotRunnable(
            f"CoreML runtime is macOS-only (coremltools cannot predict on {platform.system()}); "
            "the model was converted, measured and its weights compared instead"
        )
    import coremltools as ct

    model = ct.models.MLModel(str(path / "model.mlpackage"), compute_units=ct.ComputeUnit.CPU_ONLY)
    output_name = model.get_spec().description.output[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict({"x": x})[output_name])

    return predict
