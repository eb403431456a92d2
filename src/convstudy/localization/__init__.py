"""Fault localisation and repair between two ONNX models that should compute one function.

``localize(source, target, source_inputs, target_inputs)`` pairs the layers of the two
graphs (by structure and values, across converters' rewrites), compares their parameters,
hyperparameters and outputs, and names the first divergence. Only numpy, onnx and
onnxruntime are imported here; frameworks are imported by the evaluation tools that need them.
"""

from convstudy.localization.comparison.difference import TOLERANCE
from convstudy.localization.comparison.localize import localize
from convstudy.localization.comparison.result import (
    ActivationRow,
    Divergence,
    HyperparameterRow,
    LayerMatch,
    Localization,
    OutputComparison,
    ParameterRow,
)
from convstudy.localization.graph.matching import analyse
from convstudy.localization.io.inputs import LocalizationError
from convstudy.localization.io.schema import schema, validate

__all__ = [
    "TOLERANCE",
    "ActivationRow",
    "Divergence",
    "HyperparameterRow",
    "LayerMatch",
    "Localization",
    "LocalizationError",
    "OutputComparison",
    "ParameterRow",
    "analyse",
    "localize",
    "schema",
    "validate",
]
