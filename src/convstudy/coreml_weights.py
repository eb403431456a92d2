"""Read the weights back from a CoreML ML program and compare them with the source's.

No CoreML runtime exists on Linux, but the weights of an ``.mlpackage`` can be read: the
program is parsed by coremltools' own MIL loader and its ``const`` operations carry the
values (FP16 programs store FP16 weights). Converters rename, transpose, fuse (BatchNorm
into convolution) and split (recurrent gates) tensors, so matching cannot assume the same
names or layouts: each source tensor is matched to the unused const of the same shape up
to a transposition whose values are closest.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

#: Tolerances of ``match``: FP16 keeps about 3 decimal digits.
RTOL, ATOL = 2e-3, 1e-5


def read_weights(mlpackage: str | Path) -> dict[str, np.ndarray]:
    """Every floating-point const tensor of the program, by const name, as float32."""
    from convstudy.formats.coreml import import_coremltools

    ct = import_coremltools()
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    path = Path(mlpackage)
    spec = ct.utils.load_spec(str(path))
    weights_dir = path / "Data" / "com.apple.CoreML" / "weights"
    program = load_milproto(spec, spec.specificationVersion, str(weights_dir))
    tensors = {}
    for function in program.functions.values():
        for op in function.operations:
            value = op.outputs[0].val if op.op_type == "const" else None
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 1:
                tensors[op.name] = value.astype(np.float32)
    return tensors


def _aligned(source: np.ndarray, candidate: np.ndarray) -> list[np.ndarray]:
    """The transpositions of ``candidate`` that have ``source``'s shape."""
    views: list[np.ndarray] = []
    if candidate.size != source.size:
        return views
    for perm in itertools.permutations(range(candidate.ndim)):
        if tuple(candidate.shape[p] for p in perm) == source.shape:
            views.append(np.transpose(candidate, perm))
    return views


def compare(
    source: dict[str, np.ndarray], converted: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """One row per source tensor: the const it matched and how far the values are apart."""
    unused = dict(converted)
    rows = []
    for name, value in source.items():
        best: tuple[float, str, np.ndarray] | None = None
        for const_name, const in unused.items():
            for view in _aligned(value, np.squeeze(const) if const.ndim != value.ndim else const):
                diff = float(np.mean(np.abs(view - value)))
                if best is None or diff < best[0]:
                    best = (diff, const_name, view)
        row: dict[str, Any] = {"tensor": name, "shape": "x".join(map(str, value.shape))}
        if best is None:
            row.update(
                const=None,
                mean_abs_diff=None,
                max_abs_diff=None,
                match=False,
                note="no const of this shape (fused, split or removed by the converter)",
            )
        else:
            diff, const_name, view = best
            del unused[const_name]
            row.update(
                const=const_name,
                mean_abs_diff=diff,
                max_abs_diff=float(np.max(np.abs(view - value))),
                match=bool(np.allclose(view, value, rtol=RTOL, atol=ATOL)),
                note="",
            )
        rows.append(row)
    return rows
