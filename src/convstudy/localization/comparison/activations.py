"""Stage (d), activations: both models run side by side on the same samples, each matched
layer's output compared as soon as both sides computed it, then dropped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from convstudy.localization.comparison.difference import relative_difference
from convstudy.localization.comparison.quantization import QUANTIZATION_MARGIN
from convstudy.localization.comparison.result import ActivationRow
from convstudy.localization.comparison.runner import TensorStream
from convstudy.localization.graph.layers import LayerGraph
from convstudy.localization.graph.layout import align


@dataclass(frozen=True)
class Probe:
    """A pair of tensors compared in the activation stage."""

    position: int
    source_node: str
    target_node: str
    kind: str
    source_tensor: str
    target_tensor: str
    source_perm: tuple[int, ...] | None
    target_perm: tuple[int, ...] | None
    expected: float = 0.0


def compare_tensors(probe: Probe, s: np.ndarray, t: np.ndarray, tolerance: float) -> ActivationRow:
    """One activation row from the two tensors' values."""
    common: dict[str, Any] = {
        "position": probe.position,
        "source_node": probe.source_node,
        "target_node": probe.target_node,
        "kind": probe.kind,
        "source_tensor": probe.source_tensor,
        "target_tensor": probe.target_tensor,
    }
    if not (np.issubdtype(s.dtype, np.number) and np.issubdtype(t.dtype, np.number)):
        return ActivationRow(
            **common,
            mean_abs_diff=None,
            max_abs_diff=None,
            source_scale=None,
            relative=None,
            divergent=False,
            note="not numeric",
        )
    aligned = align(s, t, probe.source_perm, probe.target_perm)
    if aligned is None:
        return ActivationRow(
            **common,
            mean_abs_diff=None,
            max_abs_diff=None,
            source_scale=float(np.mean(np.abs(s))) if s.size else 0.0,
            relative=None,
            divergent=True,
            note=f"shape {tuple(s.shape)} vs {tuple(t.shape)}",
        )
    diff, scale, rel = relative_difference(s, aligned)
    max_diff = (
        float(np.max(np.abs(s.astype(np.float64) - aligned.astype(np.float64)))) if s.size else 0.0
    )
    return ActivationRow(
        **common,
        mean_abs_diff=diff,
        max_abs_diff=max_diff,
        source_scale=scale,
        relative=rel,
        divergent=not rel <= allowed(tolerance, probe.expected),
        expected=probe.expected,
    )


def allowed(tolerance: float, expected: float) -> float:
    """The relative difference a tensor may show: the tolerance, or the margin over the
    error quantization is expected to add there when that is larger."""
    return max(tolerance, QUANTIZATION_MARGIN * expected)


def activation_rows(
    source: LayerGraph,
    target: LayerGraph,
    probes: list[Probe],
    source_feeds: Mapping[str, np.ndarray],
    target_feeds: Mapping[str, np.ndarray],
    tolerance: float,
    *,
    mode: str,
    per_segment: int,
    extra: list[tuple[str, str]] | None = None,
) -> tuple[list[ActivationRow], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Stage (d): run both models side by side and compare each probe as soon as both of
    its tensors exist, then drop them.

    Args:
        extra: (source, target) tensor pairs returned whole instead of compared (the
            graph outputs), keyed by the source name.

    Returns:
        The rows (in probe order), the extra pairs' values, and run facts.
    """
    extra = extra or []
    s_names = [p.source_tensor for p in probes] + [s for s, _ in extra]
    t_names = [p.target_tensor for p in probes] + [t for _, t in extra]
    s_stream = TensorStream(
        source.view.model, s_names, mode=mode, per_segment=per_segment, view=source.view
    )
    t_stream = TensorStream(
        target.view.model, t_names, mode=mode, per_segment=per_segment, view=target.view
    )
    s_iter, t_iter = s_stream(source_feeds), t_stream(target_feeds)
    s_have: dict[str, np.ndarray] = {}
    t_have: dict[str, np.ndarray] = {}
    s_left = _counts(s_names)
    t_left = _counts(t_names)

    def pull(
        have: dict[str, np.ndarray], it: Iterator[tuple[str, np.ndarray]], name: str
    ) -> np.ndarray:
        while name not in have:
            key, value = next(it)
            have[key] = value
        return have[name]

    def release(have: dict[str, np.ndarray], left: dict[str, int], name: str) -> None:
        left[name] -= 1
        if left[name] == 0:
            have.pop(name, None)

    rows: list[ActivationRow] = []
    for probe in probes:
        s = pull(s_have, s_iter, probe.source_tensor)
        t = pull(t_have, t_iter, probe.target_tensor)
        rows.append(compare_tensors(probe, s, t, tolerance))
        release(s_have, s_left, probe.source_tensor)
        release(t_have, t_left, probe.target_tensor)
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s_name, t_name in extra:
        outputs[s_name] = (pull(s_have, s_iter, s_name), pull(t_have, t_iter, t_name))
    for _ in s_iter:
        pass
    for _ in t_iter:
        pass
    facts = {
        "mode": mode,
        "source_segments": s_stream.segments_run,
        "target_segments": t_stream.segments_run,
    }
    return rows, outputs, facts


def _counts(names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts
