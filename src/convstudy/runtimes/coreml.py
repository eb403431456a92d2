"""CoreML models in the CoreML runtime, which Apple ships for macOS only."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from convstudy.frameworks import Predict
from convstudy.runtimes import NotRunnable
from convstudy.spec import ModelSpec


def load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
    """Load an ``.mlpackage`` in the CoreML runtime; return its prediction function.

    Raises:
        NotRunnable: on any host but macOS, where ``MLModel.predict`` raises
            "Model prediction is only supported on macOS" and no other runtime exists.
    """
    if platform.system() != "Darwin":
        raise NotRunnable(
            f"CoreML runtime is macOS-only (coremltools cannot predict on {platform.system()}); "
            "the model was converted, measured and its weights compared instead"
        )
    from convstudy.converters.coreml import import_coremltools

    ct = import_coremltools()
    model = ct.models.MLModel(str(artifact), compute_units=ct.ComputeUnit.CPU_ONLY)
    output_name = model.get_spec().description.output[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict({spec.layout.name: x})[output_name])

    return predict
