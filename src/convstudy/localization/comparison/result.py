"""What :func:`~convstudy.localization.localize` returns, and its JSON form (described by
:mod:`convstudy.localization.io.schema`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def _finite(value: float | None) -> float | None:
    """JSON has no infinity or NaN: those become None."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class Divergence:
    """The first place where the two models differ.

    Attributes:
        source_node: the source graph's node (its ``name``), None if the target has a node
            the source lacks.
        target_node: the target graph's node, None if the source has a node the target lacks.
        op_type: op type of the node named (the target's when both are named).
        stage: "parameters", "hyperparameters", "activations" or "structure".
        metric: what was measured ("relative_mean_abs_diff", a hyperparameter's name, ...).
        value: its value (for hyperparameters: the number that differ).
        detail: one human-readable line.
    """

    source_node: str | None
    target_node: str | None
    op_type: str
    stage: str
    metric: str
    value: float
    detail: str = ""


@dataclass
class LayerMatch:
    """Two layers paired by the matcher (``position``: row in the aligned order)."""

    position: int
    kind: str
    source_node: str | None
    target_node: str | None
    source_nodes: list[str]
    target_nodes: list[str]
    source_tensor: str | None
    target_tensor: str | None


@dataclass
class ParameterRow:
    """Stage (b): one canonical parameter tensor of one matched layer.

    Attributes:
        relative: mean |s - t| over the larger mean magnitude.
        max_abs_diff, max_relative: the largest element's |s - t|, and over that magnitude.
        expected: the relative mean difference the storage grid of a quantized model
            explains (a quarter of its step, the mean error of rounding; 0 for float).
    """

    position: int
    source_node: str
    target_node: str
    kind: str
    parameter: str
    shape: list[int]
    mean_abs_diff: float | None
    source_scale: float
    relative: float | None
    divergent: bool
    note: str = ""
    max_abs_diff: float | None = None
    max_relative: float | None = None
    expected: float = 0.0


@dataclass
class HyperparameterRow:
    """Stage (c): one hyperparameter of one matched layer."""

    position: int
    source_node: str
    target_node: str
    kind: str
    name: str
    source_value: Any
    target_value: Any
    divergent: bool


@dataclass
class ActivationRow:
    """Stage (d): one matched layer's output on the given inputs.

    Attributes:
        expected: the relative difference the models' quantization explains there (0 for
            float models); a row diverges beyond the larger of the tolerance and
            :data:`~convstudy.localization.comparison.activations.QUANTIZATION_MARGIN`
            times this.
    """

    position: int
    source_node: str
    target_node: str
    kind: str
    source_tensor: str
    target_tensor: str
    mean_abs_diff: float | None
    max_abs_diff: float | None
    source_scale: float | None
    relative: float | None
    divergent: bool
    note: str = ""
    expected: float = 0.0


@dataclass
class OutputComparison:
    """The graph outputs on the given inputs (first output: labels by top-1; ``expected``:
    as in :class:`ActivationRow`)."""

    n_inputs: int
    disagreement: float
    mean_abs_diff: float
    relative: float
    divergent: bool
    expected: float = 0.0


@dataclass
class Localization:
    """Where two models that should compute the same function diverge.

    Attributes:
        first_divergent: the earliest divergence in the aligned layer order (a layer's
            hyperparameters before its parameters before its output), or None when the
            pair is equivalent within tolerance.
        tolerance: relative tolerance of the activation stage.
        parameter_tolerance: relative tolerance of the parameter stage.
        matches: the aligned layers; unpaired layers have one side None.
        parameters, hyperparameters, activations: the per-layer tables of stages b, c, d.
        outputs: the final outputs compared.
        run: how activations were computed (mode, segments run per model).
    """

    first_divergent: Divergence | None
    tolerance: float
    parameter_tolerance: float
    matches: list[LayerMatch]
    parameters: list[ParameterRow]
    hyperparameters: list[HyperparameterRow]
    activations: list[ActivationRow]
    outputs: OutputComparison
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def equivalent(self) -> bool:
        """Whether no stage found a divergence."""
        return self.first_divergent is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (infinite numbers become null)."""
        return _clean(asdict(self))

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Localization:
        """Inverse of :meth:`to_dict`."""
        first = data.get("first_divergent")
        return cls(
            first_divergent=None if first is None else Divergence(**first),
            tolerance=data["tolerance"],
            parameter_tolerance=data["parameter_tolerance"],
            matches=[LayerMatch(**m) for m in data["matches"]],
            parameters=[ParameterRow(**r) for r in data["parameters"]],
            hyperparameters=[HyperparameterRow(**r) for r in data["hyperparameters"]],
            activations=[ActivationRow(**r) for r in data["activations"]],
            outputs=OutputComparison(**data["outputs"]),
            run=dict(data.get("run", {})),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> Localization:
        """Read a file written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def match_of(self, target_node: str) -> LayerMatch | None:
        """The aligned row whose target layer contains ``target_node``."""
        for match in self.matches:
            if target_node in match.target_nodes:
                return match
        return None


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return _finite(value)
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    return value
