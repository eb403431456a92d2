"""What a repair did and achieved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RepairAction:
    """One edit of the target graph."""

    target_node: str
    action: str
    detail: str


@dataclass
class RepairResult:
    """What the repair did and what it achieved on the evaluation inputs.

    Attributes:
        actions: the edits, in order.
        n_inputs: samples the before/after numbers are measured on.
        disagreement_before, disagreement_after: share of samples whose top-1 label differs
            from the source's.
        error_before, error_after: relative mean |y_source - y_target| of the first output.
        success: the repair reduced the output error, did not increase the disagreement,
            and either reduced the disagreement or at least halved the error
            (:data:`~convstudy.localization.repair.rounds.ERROR_GAIN`): a change within
            rounding noise is not a repair. For a quantized model: the output error is
            reduced to within what its quantization explains, the disagreement not raised.
        complete: success, with no divergence left and the disagreement at most 0.1% (a
            quantized model keeps the labels its own quantization changes).
        remaining: divergent layers still found after the last round (source node names).
        reason: why it failed, when it did.
    """

    actions: list[RepairAction]
    n_inputs: int
    disagreement_before: float
    disagreement_after: float
    error_before: float
    error_after: float
    success: bool
    complete: bool
    remaining: list[str] = field(default_factory=list)
    reason: str = ""


def describe(result: RepairResult) -> dict[str, Any]:
    """The result as plain values (for JSON and tables)."""
    return asdict(result)
