"""The three comparison stages on matched layers: parameters, hyperparameters, activations."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from convstudy.localization.comparison.result import ActivationRow, HyperparameterRow, ParameterRow
from convstudy.localization.comparison.runner import TensorStream
from convstudy.localization.graph.layers import Layer, LayerGraph
from convstudy.localization.graph.layout import align

#: Smallest scale a relative difference is divided by.
TINY = 1e-12
_SKIP_HYPER = frozenset({"position", "units"})


def relative_difference(source: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(mean |s - t|, mean |s|, relative) with relative = mean |s - t| over the larger of
    the two mean magnitudes: scale-free, and at most 2."""
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    diff = float(np.mean(np.abs(s - t))) if s.size else 0.0
    scale_s = float(np.mean(np.abs(s))) if s.size else 0.0
    scale_t = float(np.mean(np.abs(t))) if t.size else 0.0
    if not (math.isfinite(diff) and math.isfinite(scale_s) and math.isfinite(scale_t)):
        return diff, scale_s, math.inf
    return diff, scale_s, diff / max(scale_s, scale_t, TINY)


def parameter_rows(
    position: int, a: Layer, b: Layer, names: tuple[str, str], tolerance: float
) -> list[ParameterRow]:
    """Stage (b) for one matched pair."""
    rows: list[ParameterRow] = []
    for key in sorted(a.params.keys() | b.params.keys()):
        pa, pb = a.params.get(key), b.params.get(key)
        common: dict[str, Any] = {
            "position": position,
            "source_node": names[0],
            "target_node": names[1],
            "kind": a.kind,
            "parameter": key,
        }
        if pa is None or pb is None:
            present = pa if pa is not None else pb
            assert present is not None
            side = "source" if pa is not None else "target"
            rows.append(
                ParameterRow(
                    **common,
                    shape=list(present.shape),
                    mean_abs_diff=None,
                    source_scale=float(np.mean(np.abs(pa))) if pa is not None else 0.0,
                    relative=None,
                    divergent=False,
                    note=f"only in {side}",
                )
            )
            continue
        if pa.shape != pb.shape:
            rows.append(
                ParameterRow(
                    **common,
                    shape=list(pa.shape),
                    mean_abs_diff=None,
                    source_scale=float(np.mean(np.abs(pa))),
                    relative=None,
                    divergent=True,
                    note=f"shape {tuple(pa.shape)} vs {tuple(pb.shape)}",
                )
            )
            continue
        diff, scale, rel = relative_difference(pa, pb)
        rows.append(
            ParameterRow(
                **common,
                shape=list(pa.shape),
                mean_abs_diff=diff,
                source_scale=scale,
                relative=rel,
                divergent=not rel <= tolerance,
            )
        )
    return rows


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            return False
        return math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    return bool(x == y)


def hyperparameter_rows(
    position: int, a: Layer, b: Layer, names: tuple[str, str]
) -> list[HyperparameterRow]:
    """Stage (c) for one matched pair; a key only one side has is shown, not flagged."""
    rows = [
        HyperparameterRow(
            position=position,
            source_node=names[0],
            target_node=names[1],
            kind=a.kind,
            name="op",
            source_value=a.kind,
            target_value=b.kind,
            divergent=a.kind != b.kind,
        )
    ]
    for key in sorted((a.hyper.keys() | b.hyper.keys()) - _SKIP_HYPER):
        if key not in a.hyper or key not in b.hyper:
            rows.append(
                HyperparameterRow(
                    position=position,
                    source_node=names[0],
                    target_node=names[1],
                    kind=a.kind,
                    name=key,
                    source_value=a.hyper.get(key),
                    target_value=b.hyper.get(key),
                    divergent=False,
                )
            )
            continue
        va, vb = a.hyper[key], b.hyper[key]
        rows.append(
            HyperparameterRow(
                position=position,
                source_node=names[0],
                target_node=names[1],
                kind=a.kind,
                name=key,
                source_value=va,
                target_value=vb,
                divergent=not _same(va, vb),
            )
        )
    return rows


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
        divergent=not rel <= tolerance,
    )


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
