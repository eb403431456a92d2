"""Axis orders: NCHW versus NHWC, flatten orders, and aligning two tensors of one value.

A tensor's *layout* is the permutation ``p`` with ``tensor = native.transpose(p)``, where
*native* is the order ONNX's own operators use (``Conv`` and the pools read and write
NCHW). Converters from NHWC frameworks wrap those operators in ``Transpose`` nodes, so a
layer's output may be NHWC in one graph and NCHW in the other; comparisons bring both to
the same order first.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations

import numpy as np

Perm = tuple[int, ...]


def compose(perm: Perm, transpose: Sequence[int]) -> Perm:
    """Layout after applying ``Transpose(perm=transpose)`` to a tensor of layout ``perm``."""
    return tuple(perm[int(axis)] for axis in transpose)


def inverse(perm: Sequence[int]) -> Perm:
    """The permutation undoing ``perm``."""
    return tuple(int(i) for i in np.argsort(perm))


def identity(rank: int) -> Perm:
    """The native layout of a rank-``rank`` tensor."""
    return tuple(range(rank))


def to_layout(x: np.ndarray, source: Perm, target: Perm) -> np.ndarray:
    """``x``, laid out as ``source``, transposed into layout ``target``."""
    native = np.transpose(x, inverse(source))
    return np.transpose(native, target)


def _squeeze_features(x: np.ndarray) -> np.ndarray:
    """Drop size-1 axes except the first (batch) axis."""
    keep = [0] + [axis for axis in range(1, x.ndim) if x.shape[axis] != 1]
    return x.reshape([x.shape[a] for a in keep])


def align(
    source: np.ndarray,
    target: np.ndarray,
    source_perm: Perm | None = None,
    target_perm: Perm | None = None,
) -> np.ndarray | None:
    """``target`` brought into ``source``'s axis order, or None if no order fits.

    Known layouts are used first. Otherwise every order of the non-batch axes whose shape
    fits is tried and the closest in value wins (an all-square feature map is otherwise
    ambiguous). Size-1 axes are ignored, so (N, C, 1, 1) aligns with (N, C).
    """
    if (
        source_perm is not None
        and target_perm is not None
        and len(source_perm) == target.ndim == source.ndim
    ):
        moved = to_layout(target, target_perm, source_perm)
        if moved.shape == source.shape:
            return moved
    if target.shape == source.shape and (source_perm is None or source_perm == target_perm):
        return target
    if source.size != target.size or not source.ndim or not target.ndim:
        return None
    if source.shape[0] != target.shape[0]:
        return None
    src, tgt = _squeeze_features(source), _squeeze_features(target)
    if src.ndim != tgt.ndim:
        return None
    best: np.ndarray | None = None
    best_err = np.inf
    for rest in permutations(range(1, tgt.ndim)):
        perm = (0, *rest)
        if tuple(tgt.shape[a] for a in perm) != src.shape:
            continue
        candidate = np.transpose(tgt, perm)
        err = float(np.mean(np.abs(candidate - src)))
        if err < best_err:
            best, best_err = candidate, err
    return None if best is None else best.reshape(source.shape)


def native_flat_index(shape: Sequence[int], perm: Perm) -> np.ndarray:
    """For each flat position of a tensor of ``shape`` laid out as ``perm``, the flat
    position of the same element in the native layout (batch axis excluded)."""
    native_shape = [shape[a] for a in inverse(perm)]
    count = int(np.prod(native_shape[1:]))
    native = np.arange(count).reshape([1, *native_shape[1:]])
    return np.transpose(native, perm).reshape(-1)
