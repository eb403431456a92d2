"""CoreML ML programs (``.mlpackage``), run in the CoreML runtime, which Apple ships for
macOS only. On Linux the model is converted and its weights are read back
(:mod:`convstudy.coreml_weights`), not run. Neuralnetwork models (``.mlmodel``) run in the
same runtime: :mod:`convstudy.formats.coreml_nn` is this module with its own artifact."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import envs, registry
from convstudy.formats import NotRunnable, OnnxView, Predict, Signature
from convstudy.spec import ModelSpec

ARTIFACT = "model.mlpackage"

#: Packages coremltools imports when it finds them, for converters no hop uses.
UNUSED_BY_CONVERSION = frozenset({"scikit-learn", "xgboost", "transformers"})


def import_coremltools(keep: str | None = None) -> Any:
    """Import coremltools with only the framework ``keep`` (a format name) visible to it.

    At import, coremltools imports every framework it finds (scikit-learn, TensorFlow,
    torch, Hugging Face transformers, ...), about 10 s of a conversion job on this
    project's machines; a hop needs only its source's framework (transformers, installed
    for textattack, alone costs 1.1 s). coremltools detects the frameworks once, at its first
    import: a process that converts from both imports both frameworks first. (Reading the
    weights back needs no coremltools: :mod:`convstudy.coreml_read`.)
    """
    unneeded = {
        package
        for name, entry in registry.FRAMEWORKS.items()
        if name != keep
        for package in entry.packages
    }
    with envs.without(unneeded | UNUSED_BY_CONVERSION):
        import coremltools

    return coremltools


def detect(path: Path) -> str | None:
    """CoreML files are not taken as brought models: no converter leaves CoreML."""
    return None


def signature(artifact: Path) -> Signature:
    raise ValueError(f"{artifact}: a CoreML model cannot be a source (no converter from CoreML)")


def load(
    artifact: Path, spec: ModelSpec, *, threads: int, settings: Mapping[str, Any] | None = None
) -> Predict:
    """Load an ``.mlpackage`` (or ``.mlmodel``) in the CoreML runtime; return its prediction
    function.

    ``settings["compute_units"]`` (config ``evaluation.runtimes.coreml``, a coremltools
    ``ComputeUnit`` name) picks the hardware CoreML may use (``ALL``, the default, lets it
    choose the GPU or Neural Engine; ``CPU_ONLY`` compares with the other runtimes on
    equal terms).

    Raises:
        NotRunnable: on any host but macOS, where ``MLModel.predict`` raises
            "Model prediction is only supported on macOS" and no other runtime exists.
    """
    if platform.system() != "Darwin":
        raise NotRunnable(
            f"CoreML runtime is macOS-only (coremltools cannot predict on {platform.system()}); "
            "the model was converted, measured and its weights compared instead"
        )
    ct = import_coremltools()
    units = (settings or {}).get("compute_units", "ALL")
    model = ct.models.MLModel(str(artifact), compute_units=getattr(ct.ComputeUnit, units))
    output_name = model.get_spec().description.output[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict({spec.layout.name: x})[output_name])

    return predict


def onnx_view(artifact: Path, spec: ModelSpec | None) -> OnnxView:
    raise ValueError("a CoreML model has no ONNX view (no CoreML -> ONNX converter)")
