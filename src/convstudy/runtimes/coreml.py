"""CoreML models in the CoreML runtime, which Apple ships for macOS only."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.frameworks import Predict
from convstudy.runtimes import NotRunnable
from convstudy.spec import ModelSpec


def load(
    artifact: Path,
    spec: ModelSpec,
    *,
    threads: int,
    settings: Mapping[str, Any] | None = None,
) -> Predict:
    """Load an ``.mlpackage`` in the CoreML runtime; return its prediction function.

    ``settings["compute_units"]`` (config ``evaluation.runtimes.coreml``, a coremltools
    ``ComputeUnit`` name) picks the hardware CoreML may use (``ALL``, the
    default, lets it choose the GPU or Neural Engine; ``CPU_ONLY`` compares with the
    other runtimes on equal terms).

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
    units = (settings or {}).get("compute_units", "ALL")
    model = ct.models.MLModel(str(artifact), compute_units=getattr(ct.ComputeUnit, units))
    output_name = model.get_spec().description.output[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict({spec.layout.name: x})[output_name])

    return predict
