"""Pairing the layers of two graphs by structure and by values, never by names.

Both layer lists are in canonical order (depth, family, size, graph order), which two
graphs of the same function share even when converters renamed, reordered or inserted
nodes. A global sequence alignment (Needleman-Wunsch) pairs them: two layers may pair
only within one family; a pair scores higher when its parameter shapes agree and its
parameter values are close; a layer left unpaired costs a gap. A layer one converter
inserted (a standalone activation, a Pad it could not fold) thus stays unpaired instead
of shifting every later pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from convstudy.localization.graph.layers import Layer, LayerGraph

#: Score of leaving a layer unpaired.
GAP = -4.0
_BASE = 10.0
#: Values compared per parameter tensor when scoring a pair (a fixed, spread subsample).
_SAMPLE = 512


@dataclass(frozen=True)
class Pair:
    """One row of an alignment: indices into the source and target layer lists."""

    source: int | None
    target: int | None


def _sample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    if flat.size <= _SAMPLE:
        return flat
    return flat[np.linspace(0, flat.size - 1, _SAMPLE).astype(np.int64)]


def score(a: Layer, b: Layer) -> float | None:
    """How well two layers pair (higher is better); None when they may not pair."""
    if a.family != b.family:
        return None
    if a.family == "input":
        same = a.hyper.get("position") == b.hyper.get("position")
        return _BASE + (2.0 if same else -3.0)
    value = _BASE - (3.0 if a.kind != b.kind else 0.0)
    for key in a.params.keys() & b.params.keys():
        pa, pb = a.params[key], b.params[key]
        if pa.shape != pb.shape:
            value -= 2.0
            continue
        sa, sb = _sample(pa), _sample(pb)
        scale = max(float(np.mean(np.abs(sa))), float(np.mean(np.abs(sb))), 1e-12)
        rel = float(np.mean(np.abs(sa - sb))) / scale
        value += 2.0 * (1.0 - min(rel, 1.0))
    return value


def align(source: list[Layer], target: list[Layer]) -> list[Pair]:
    """The best-scoring alignment of two canonically ordered layer lists."""
    n, m = len(source), len(target)
    best = np.full((n + 1, m + 1), -np.inf)
    move = np.zeros((n + 1, m + 1), dtype=np.int8)  # 1 pair, 2 skip source, 3 skip target
    best[0, 0] = 0.0
    for i in range(1, n + 1):
        best[i, 0], move[i, 0] = best[i - 1, 0] + GAP, 2
    for j in range(1, m + 1):
        best[0, j], move[0, j] = best[0, j - 1] + GAP, 3
    scores = [[score(a, b) for b in target] for a in source]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [(best[i - 1, j] + GAP, 2), (best[i, j - 1] + GAP, 3)]
            s = scores[i - 1][j - 1]
            if s is not None:
                options.append((best[i - 1, j - 1] + s, 1))
            best[i, j], move[i, j] = max(options, key=lambda o: o[0])
    pairs: list[Pair] = []
    i, j = n, m
    while i > 0 or j > 0:
        choice = move[i, j]
        if choice == 1:
            pairs.append(Pair(i - 1, j - 1))
            i, j = i - 1, j - 1
        elif choice == 2:
            pairs.append(Pair(i - 1, None))
            i -= 1
        else:
            pairs.append(Pair(None, j - 1))
            j -= 1
    pairs.reverse()
    return _untie(source, target, pairs, scores)


def _tie(layer: Layer) -> tuple[int, str, int]:
    """What the canonical order sorts by before graph order: layers equal in it (parallel
    branches of one shape, as in an Inception block) may stand in either order."""
    return (layer.depth, layer.family, layer.n_params)


def _tied_gain(a: Layer, b: Layer, value: float | None, mapped: dict[int, int | None]) -> float:
    """A tied pair's score, plus how many of its inputs come from layers already paired
    with each other (what tells apart parallel layers without parameters, as the
    concatenations of two Inception blocks)."""
    if value is None:
        return -1e9
    fed = sum(1 for p in a.preds if mapped.get(p) in b.preds)
    return value + 3.0 * fed / max(1, len(a.preds), len(b.preds))


def _untie(
    source: list[Layer],
    target: list[Layer],
    pairs: list[Pair],
    scores: list[list[float | None]],
) -> list[Pair]:
    """Re-pair each run of aligned layers that are tied in canonical order on both sides
    by their best assignment (Hungarian, on the pair scores): a converter that emits
    parallel branches in another order would otherwise have them compared crosswise.
    (Sequence alignment cannot cross; this is the one place where order is not evidence.)"""
    from scipy.optimize import linear_sum_assignment

    out = list(pairs)
    start = 0
    while start < len(out):
        first = out[start]
        end = start + 1
        if first.source is not None and first.target is not None:
            key = _tie(source[first.source])
            while (
                end < len(out)
                and out[end].source is not None
                and out[end].target is not None
                and _tie(source[out[end].source]) == key  # type: ignore[index]
                and _tie(target[out[end].target]) == _tie(target[first.target])  # type: ignore[index]
            ):
                end += 1
        if end - start > 1:
            rows = [p.source for p in out[start:end]]
            cols = [p.target for p in out[start:end]]
            mapped = {p.source: p.target for p in out[:start] if p.source is not None}
            gain = np.array(
                [
                    [_tied_gain(source[r], target[c], scores[r][c], mapped) for c in cols]  # type: ignore[index]
                    for r in rows
                ]
            )
            picked_rows, picked_cols = linear_sum_assignment(gain, maximize=True)
            out[start:end] = [
                Pair(rows[r], cols[c]) for r, c in zip(picked_rows, picked_cols, strict=True)
            ]
        start = end
    return out


@dataclass
class Analysis:
    """Both layer graphs and their alignment (what the repair works from)."""

    source: LayerGraph
    target: LayerGraph
    pairs: list[Pair]

    def layers(self, pair: Pair) -> tuple[Layer | None, Layer | None]:
        """The source and target layer of one aligned row."""
        a = None if pair.source is None else self.source.layers[pair.source]
        b = None if pair.target is None else self.target.layers[pair.target]
        return a, b


def analyse(source: onnx.ModelProto, target: onnx.ModelProto) -> Analysis:
    """Read both models into layers and align them."""
    src, tgt = LayerGraph(source), LayerGraph(target)
    return Analysis(src, tgt, align(src.layers, tgt.layers))
