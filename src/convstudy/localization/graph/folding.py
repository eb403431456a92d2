"""Constant folding of the small expressions converters compute weights and shapes with.

One numpy function per ONNX op type; :func:`fold` evaluates a node whose inputs are all
constant, or returns None for an op not handled here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

#: (constant inputs, attributes) -> value; None where the node's form is not handled.
Folder = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray | None]


def _cast(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    return values[0].astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _reshape(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    x = values[0]
    shape = [int(d) for d in values[1]]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _flatten(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    x = values[0]
    axis = attrs.get("axis", 1) % max(x.ndim, 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _squeeze(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    axes = values[1] if len(values) > 1 else attrs.get("axes")
    return np.squeeze(values[0], axis=tuple(int(a) for a in axes) if axes is not None else None)


def _unsqueeze(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    axes = values[1] if len(values) > 1 else attrs["axes"]
    out = values[0]
    rank = out.ndim + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


def _arithmetic(fn: Callable[[np.ndarray, np.ndarray], Any], integer_division: bool) -> Folder:
    def fold(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
        out = fn(values[0], values[1])
        if integer_division and np.issubdtype(values[0].dtype, np.integer):
            out = np.floor_divide(values[0], values[1])
        return np.asarray(out, dtype=values[0].dtype)

    return fold


def _expand(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    x = values[0]
    return x * np.ones([int(d) for d in values[1]], dtype=x.dtype)


def _shape(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    dims = np.asarray(values[0].shape, dtype=np.int64)
    return dims[attrs.get("start", 0) : attrs.get("end", None)]


def _constant_of_shape(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    fill = attrs.get("value", np.zeros(1, dtype=np.float32))
    return np.full([int(d) for d in values[0]], np.asarray(fill).reshape(-1)[0])


def _slice(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | None:
    if len(values) < 3:
        return None
    x, starts, ends = values[0], values[1], values[2]
    axes = values[3] if len(values) > 3 else range(len(starts))
    steps = values[4] if len(values) > 4 else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, b, e, k in zip(axes, starts, ends, steps, strict=True):
        index[int(a) % x.ndim] = slice(int(b), int(e), int(k))
    return x[tuple(index)]


def _dequantize(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | None:
    """DequantizeLinear of a constant: a quantized weight as the float values it stands for."""
    x, scale = values[0], values[1]
    zero = values[2] if len(values) > 2 else np.zeros((), dtype=x.dtype)
    if attrs.get("block_size", 0):
        return None
    if scale.size > 1:
        axis = int(attrs.get("axis", 1)) % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    dequantized = (x.astype(np.float64) - zero.astype(np.float64)) * scale.astype(np.float64)
    return dequantized.astype(scale.dtype)


def _quantize(values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | None:
    """QuantizeLinear of a constant (weights a tool quantizes in the graph)."""
    x, scale = values[0], values[1]
    zero = values[2] if len(values) > 2 else np.zeros((), dtype=np.uint8)
    if attrs.get("block_size", 0) or not np.issubdtype(zero.dtype, np.integer):
        return None
    if scale.size > 1:
        axis = int(attrs.get("axis", 1)) % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    info = np.iinfo(zero.dtype)
    q = np.rint(x.astype(np.float64) / scale.astype(np.float64)) + zero.astype(np.float64)
    return np.clip(q, info.min, info.max).astype(zero.dtype)


FOLDERS: dict[str, Folder] = {
    "Identity": lambda values, attrs: values[0],
    "Cast": _cast,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": lambda values, attrs: np.transpose(values[0], attrs.get("perm")),
    "Concat": lambda values, attrs: np.concatenate(values, axis=attrs["axis"]),
    "Add": _arithmetic(np.add, integer_division=False),
    "Sub": _arithmetic(np.subtract, integer_division=False),
    "Mul": _arithmetic(np.multiply, integer_division=False),
    "Div": _arithmetic(np.divide, integer_division=True),
    "Expand": _expand,
    "Shape": _shape,
    "ConstantOfShape": _constant_of_shape,
    "Slice": _slice,
    "Neg": lambda values, attrs: -values[0],
    "Sqrt": lambda values, attrs: np.sqrt(values[0]),
    "Reciprocal": lambda values, attrs: 1.0 / values[0],
    "DequantizeLinear": _dequantize,
    "QuantizeLinear": _quantize,
}


def fold(op: str, values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | None:
    """numpy value of one constant node, or None where the op is not handled here."""
    folder = FOLDERS.get(op)
    if folder is None or not values:
        return None
    return folder(values, attrs)
