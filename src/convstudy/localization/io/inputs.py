"""Checked loading of models and of the inputs fed to them (bad input: one-line errors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx

from convstudy.batch import oversized
from convstudy.errors import ConvstudyError

ModelLike = onnx.ModelProto | str | Path
InputsLike = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


class LocalizationError(ConvstudyError):
    """A model or an input given to the localization cannot be used; the message says why."""


def load_model(model: ModelLike, role: str) -> onnx.ModelProto:
    """``model`` itself, or the ONNX model at that path, checked to be a usable graph."""
    if isinstance(model, onnx.ModelProto):
        proto = model
        where = f"{role} model"
    elif isinstance(model, (str, Path)):
        path = Path(model)
        where = f"{role} model {path}"
        if not path.is_file():
            raise LocalizationError(f"{where}: no such file")
        try:
            proto = onnx.load(str(path))
        except Exception as exc:  # protobuf raises several unrelated types
            raise LocalizationError(f"{where}: not an ONNX model ({type(exc).__name__})") from exc
    else:
        raise LocalizationError(
            f"{role} model: expected an onnx.ModelProto or a path, got {type(model).__name__}"
        )
    if not proto.graph.node or not proto.graph.output:
        raise LocalizationError(f"{where}: not an ONNX model (no graph nodes or outputs)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise LocalizationError(f"{where}: invalid ONNX model ({first})") from exc
    return proto


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _expected(info: onnx.ValueInfoProto) -> tuple[np.dtype, list[int | None]]:
    tensor = info.type.tensor_type
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return dtype, dims


def _fmt_shape(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in dims) + ")"


def feeds_for(model: onnx.ModelProto, inputs: InputsLike, role: str) -> dict[str, np.ndarray]:
    """Map ``inputs`` (one array, a sequence in input order, or a name -> array mapping) to
    the model's graph inputs, checking names, dtypes and shapes."""
    declared = _graph_inputs(model)
    names = [i.name for i in declared]
    if isinstance(inputs, np.ndarray):
        given: dict[str, np.ndarray] = {names[0]: inputs} if names else {}
        if len(names) != 1:
            raise LocalizationError(
                f"{role} inputs: the model has {len(names)} inputs {names}, got one array"
            )
    elif isinstance(inputs, Mapping):
        given = {str(k): np.asarray(v) for k, v in inputs.items()}
    elif isinstance(inputs, Sequence):
        arrays = [np.asarray(v) for v in inputs]
        if len(arrays) != len(names):
            raise LocalizationError(
                f"{role} inputs: the model has {len(names)} inputs {names}, got {len(arrays)}"
            )
        given = dict(zip(names, arrays, strict=True))
    else:
        raise LocalizationError(
            f"{role} inputs: expected an array, a sequence or a mapping, got {type(inputs).__name__}"
        )
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise LocalizationError(f"{role} inputs: unknown input {unknown[0]!r}; model has {names}")
    missing = [n for n in names if n not in given]
    if missing:
        raise LocalizationError(f"{role} inputs: missing input {missing[0]!r}")
    for info in declared:
        value = given[info.name]
        dtype, dims = _expected(info)
        if value.dtype != dtype:
            raise LocalizationError(
                f"{role} input {info.name!r}: expected {dtype}, got {value.dtype}"
            )
        if dims and (
            value.ndim != len(dims)
            or any(d is not None and d != s for d, s in zip(dims, value.shape, strict=True))
        ):
            raise LocalizationError(
                f"{role} input {info.name!r}: expected shape {_fmt_shape(dims)}, "
                f"got {tuple(value.shape)}"
            )
    return {n: given[n] for n in names}


def batch_size(feeds: Mapping[str, np.ndarray], role: str) -> int:
    """The common leading dimension of all inputs."""
    sizes = {v.shape[0] for v in feeds.values() if v.ndim}
    if len(sizes) != 1:
        raise LocalizationError(f"{role} inputs: inputs disagree on the batch size {sorted(sizes)}")
    (size,) = sizes
    if size < 1:
        raise LocalizationError(f"{role} inputs: empty batch")
    return int(size)


def input_names(model: onnx.ModelProto) -> list[str]:
    """The names of the graph inputs that are not initializers."""
    return [i.name for i in _graph_inputs(model)]


def _integer_high(model: onnx.ModelProto, name: str) -> int:
    """Exclusive upper bound for random token ids: rows of the table a Gather reads with them."""
    inits = {t.name: t for t in model.graph.initializer}
    rows = [
        int(inits[node.input[0]].dims[0])
        for node in model.graph.node
        if node.op_type == "Gather" and name in node.input[1:] and node.input[0] in inits
    ]
    return min(rows) if rows else 2


def random_inputs(model: onnx.ModelProto, n: int, seed: int) -> np.ndarray:
    """Seeded inputs for a single-input model: uniform [0, 1) floats, or valid token ids.

    Raises:
        LocalizationError: the model has several inputs or a free non-batch dimension.
    """
    declared = _graph_inputs(model)
    if len(declared) != 1:
        raise LocalizationError(f"model has {len(declared)} inputs: give them with --inputs")
    dtype, dims = _expected(declared[0])
    if any(d is None for d in dims[1:]):
        raise LocalizationError(
            f"input {declared[0].name!r} has shape {_fmt_shape(dims)}: give inputs with --inputs"
        )
    shape = (n, *[int(d or 0) for d in dims[1:]])
    refused = oversized(shape, dtype)
    if refused:
        raise LocalizationError(f"input {declared[0].name!r}: {refused}")
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, _integer_high(model, declared[0].name), shape).astype(dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)


def check_finite(x: np.ndarray, what: str) -> None:
    """Refuse a batch with NaN or infinite values (the localization compares finite
    numbers; a NaN input makes any model differ from itself)."""
    if np.issubdtype(x.dtype, np.inexact):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise LocalizationError(f"{what}: {bad} values are NaN or infinite; refused")


def adapt(x: np.ndarray, model: onnx.ModelProto, role: str) -> np.ndarray:
    """One batch ``x`` as ``model``'s single input: same dtype kind, and channels moved
    between last and second axis when the model's layout is the other one (NHWC <-> NCHW)."""
    declared = _graph_inputs(model)
    if len(declared) != 1:
        raise LocalizationError(f"{role} model has {len(declared)} inputs; one array was given")
    dtype, dims = _expected(declared[0])
    if np.issubdtype(dtype, np.integer) != np.issubdtype(x.dtype, np.integer):
        raise LocalizationError(f"{role} input: model takes {dtype}, inputs are {x.dtype}")
    x = x.astype(dtype, copy=False)
    fits = len(dims) == x.ndim and all(
        d is None or d == s for d, s in zip(dims[1:], x.shape[1:], strict=True)
    )
    if fits or x.ndim != 4 or len(dims) != 4:
        return x
    for perm in ((0, 3, 1, 2), (0, 2, 3, 1)):
        moved = np.ascontiguousarray(x.transpose(perm))
        if all(d is None or d == s for d, s in zip(dims[1:], moved.shape[1:], strict=True)):
            return moved
    return x
