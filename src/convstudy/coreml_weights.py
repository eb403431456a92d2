"""Match a CoreML model's weights, read back on Linux, against its source's, tensor by tensor.

No CoreML runtime exists on Linux, but the weights of a CoreML model can be read
(:mod:`convstudy.coreml_read`). Converters rename, transpose, cast, fold (BatchNorm into
the convolution) and split or reorder (recurrent gates), so matching cannot assume the
same names or layouts: each group of source tensors comes with the readings a converter
may have made of it (:mod:`convstudy.coreml_rewrites`), each reading's expected tensors
are looked for among the constants (the closest of as many elements, up to a transposition
or a reshape), and the reading that explains the most source tensors is kept.

Each source tensor is one row: the constants it was found in, how (``rewrite``: ``identity``
or the steps, e.g. ``bn-folded+transposed+cast-fp16``), the differences and a ``status``:
``matched`` (stored as it is, up to layout and precision), ``explained`` (stored rewritten,
and the rewrite reproduces the constant) or ``unexplained`` (a finding: the closest
constant's numbers stay in the row).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import coreml_read
from convstudy.coreml_rewrites import Expected, Group, groups

#: (rtol, atol) by the dtype a constant is stored in: FP16 rounds to 2^-11 relative
#: (about 4.9e-4) and to 2^-25 absolute below its smallest normal number; FP32 folding and
#: reordering leave a few float32 roundings.
TOLERANCES: dict[str, tuple[float, float]] = {"float16": (1e-3, 1e-7), "float32": (1e-5, 1e-7)}
#: The steps of a rewrite that leave a tensor as it is.
_AS_IS_STEPS = {"transposed", "reshaped", "cast-fp16"}
#: The source model's weights as the converter was handed them (framework names, float32),
#: written beside the CoreML model by the conversion, so that the read-back needs numpy
#: only: loading the trained model again took each read-back job about 3 s (TensorFlow or
#: torch and the model), 60 jobs of the default run.
SOURCE_FILE = "source_weights.npz"


def save_source(folder: str | Path, weights: Mapping[str, np.ndarray]) -> None:
    """Write the source's weights (:data:`SOURCE_FILE`) into a converted model's folder."""
    np.savez(Path(folder) / SOURCE_FILE, allow_pickle=False, **weights)


def load_source(folder: str | Path) -> dict[str, np.ndarray] | None:
    """The source's weights written by :func:`save_source` (in their order), or None when
    the folder has none (a conversion made before they were written)."""
    path = Path(folder) / SOURCE_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def read_weights(artifact: str | Path) -> dict[str, np.ndarray]:
    """Every floating-point constant of a CoreML model, in its stored dtype (read only)."""
    return coreml_read.read_weights(artifact)


@dataclass(frozen=True)
class Found:
    """Where an expected tensor was found: the closest constant and how far it is."""

    const: str | None = None
    layout: str = ""
    dtype: str = ""
    mean_abs_diff: float | None = None
    max_abs_diff: float | None = None
    match: bool = False


def compare(
    source: Mapping[str, np.ndarray],
    converted: Mapping[str, np.ndarray],
    *,
    bn_epsilon: float = 1e-5,
) -> list[dict[str, Any]]:
    """One row per source tensor (in source order): how it was found in ``converted``.

    Args:
        source: the trained model's tensors by framework name.
        converted: the converted model's constants (:func:`read_weights`), stored dtypes.
        bn_epsilon: the BatchNorm epsilon of the source model.
    """
    consts = _Consts(converted)
    rows: dict[str, dict[str, Any]] = {}
    for group in groups(source, bn_epsilon=bn_epsilon):
        rows.update(_best_rows(group, consts))
    return [
        {"tensor": name, "shape": "x".join(map(str, np.shape(value))), **rows[name]}
        for name, value in source.items()
    ]


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows are matched, explained and unexplained."""
    return {
        s: sum(row["status"] == s for row in rows) for s in ("matched", "explained", "unexplained")
    }


def _best_rows(group: Group, consts: _Consts) -> dict[str, dict[str, Any]]:
    """The rows of ``group``'s tensors under the reading that explains the most of them
    (the first such reading: as-is before any rewrite)."""
    best: dict[str, dict[str, Any]] | None = None
    for reading in group.readings:
        found = [(expected, consts.find(expected)) for expected in reading.expected]
        rows = {name: _row(name, found) for name in group.tensors}
        if best is None or _matching(rows) > _matching(best):
            best = rows
        if _matching(best) == len(group.tensors):
            break
    assert best is not None  # every group has its as-is reading
    return best


def _matching(rows: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(row["match"] for row in rows.values())


def _row(name: str, found: list[tuple[Expected, Found]]) -> dict[str, Any]:
    """The row of source tensor ``name``: the worst of the expected tensors it is in."""
    mine = [(e, f) for e, f in found if name in e.sources]
    if not mine or any(f.const is None for _, f in mine):
        return {
            "const": None,
            "rewrite": None,
            "mean_abs_diff": None,
            "max_abs_diff": None,
            "match": False,
            "status": "unexplained",
            "note": "no const of as many elements (fused, split or removed by the converter)",
        }
    steps = [s for e, f in mine for s in (*e.rewrite.split("+"), f.layout, _cast(f.dtype)) if s]
    steps = list(dict.fromkeys(steps))
    match = all(f.match for _, f in mine)
    status = (
        "unexplained" if not match else "matched" if set(steps) <= _AS_IS_STEPS else "explained"
    )
    whats = list(dict.fromkeys(e.what for e, _ in mine if e.what))
    worst = max(f.max_abs_diff or 0.0 for _, f in mine)
    return {
        "const": ",".join(dict.fromkeys(str(f.const) for _, f in mine)),
        "rewrite": "+".join(steps) or "identity",
        "mean_abs_diff": max(f.mean_abs_diff or 0.0 for _, f in mine),
        "max_abs_diff": worst,
        "match": match,
        "status": status,
        "note": "; ".join(whats)
        if match
        else f"closest const differs by up to {worst:.3g} (beyond the {_tolerance_words(mine)})",
    }


def _cast(dtype: str) -> str:
    return "cast-fp16" if dtype == "float16" else ""


def _tolerance_words(mine: list[tuple[Expected, Found]]) -> str:
    dtypes = sorted({f.dtype for _, f in mine})
    return ", ".join(f"{d} tolerance rtol={TOLERANCES[d][0]:g}" for d in dtypes if d in TOLERANCES)


class _Consts:
    """The converted model's constants, by number of elements."""

    def __init__(self, converted: Mapping[str, np.ndarray]) -> None:
        self.by_size: dict[int, list[tuple[str, np.ndarray]]] = {}
        for name, value in converted.items():
            self.by_size.setdefault(int(value.size), []).append((name, value))

    def find(self, expected: Expected) -> Found:
        """The constant closest to ``expected`` (one that matches, if any does)."""
        best = Found()
        for name, const in self.by_size.get(int(expected.value.size), []):
            dtype = str(const.dtype)
            rtol, atol = TOLERANCES.get(dtype, TOLERANCES["float32"])
            for layout, view in _views(const, expected.value.shape):
                diff = np.abs(view.astype(np.float64) - expected.value)
                found = Found(
                    name,
                    layout,
                    dtype,
                    float(diff.mean()),
                    float(diff.max()),
                    bool(np.all(diff <= atol + rtol * np.abs(expected.value))),
                )
                if _better(found, best):
                    best = found
                if found.match and not layout:
                    return best
        return best


def _better(found: Found, best: Found) -> bool:
    if best.const is None or found.match != best.match:
        return best.const is None or found.match
    return (found.max_abs_diff or 0.0) < (best.max_abs_diff or 0.0)


def _views(const: np.ndarray, shape: tuple[int, ...]) -> Iterator[tuple[str, np.ndarray]]:
    """``const`` in ``shape``: as it is, transposed (size-1 axes aside), or reshaped when no
    transposition fits; with the layout step it took ("" for none)."""
    squeezed = np.squeeze(const)
    target = tuple(d for d in shape if d != 1)
    fits = [
        perm
        for perm in itertools.permutations(range(squeezed.ndim))
        if tuple(squeezed.shape[p] for p in perm) == target
    ]
    for perm in fits:
        if perm == tuple(range(squeezed.ndim)):
            yield "", const.reshape(shape)
        else:
            yield "transposed", np.transpose(squeezed, perm).reshape(shape)
    if not fits:
        yield "reshaped", const.reshape(shape)
