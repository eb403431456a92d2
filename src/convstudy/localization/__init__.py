"""Fault localisation and repair between two ONNX models that should compute one function.

``localize(source, target, source_inputs, target_inputs)`` pairs the layers of the two
graphs (by structure and values, across converters' rewrites), compares their parameters,
hyperparameters and outputs, and names the first divergence. Only numpy, onnx and
onnxruntime are imported here; frameworks are imported by the evaluation tools that need them.

Vocabulary (STUDY.md, Part 2):

- *model*: an ONNX graph; a *view* is a model of any format seen as ONNX and verified
  against it (:mod:`.io.views`). The *source* is the reference, the *target* the
  converted model.
- *hop*: one conversion of a chain source -> hop 1 -> ... -> target (PyTorch -> ONNX ->
  TFLite); stage (a) names the first hop whose outputs diverge.
- *layer*: the unit matched across two graphs: one *core* operator
  (:mod:`.graph.cores`), a zero ``Pad`` folded into it, and its *post-ops*, the affine
  maps and activations after it (:mod:`.graph.post_ops`); *connectors* (Transpose,
  Reshape, ...) belong to no layer. Layers of two graphs are *matched* (aligned) in
  pairs, or left unmatched.
- *stage*: one of the four localization stages: (a) hops, (b) parameters,
  (c) hyperparameters, (d) activations. A divergence names its stage ("structure" for a
  layer only one model has).
- *segment*: a cut of a graph run on its own, to bound memory (:mod:`.comparison.runner`).
- *fault* / *control*: a planted bug / an equivalent rewrite (:mod:`.evaluation`).

Sub-packages: :mod:`.graph` (an ONNX graph read as layers, and matched),
:mod:`.comparison` (running models, the stages, the result records), :mod:`.repair`,
:mod:`.evaluation` (fault injection, the benchmark beside Polygraphy) and :mod:`.io`
(inputs, views, the report, the JSON schema); :mod:`.pipeline` runs one localization as
the ``convstudy`` command and the workflow do.
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
