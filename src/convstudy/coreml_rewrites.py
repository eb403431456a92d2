"""What coremltools may have made of a source model's tensors: the readings to try.

coremltools rarely stores a trained tensor as it is. It folds a BatchNorm into the
convolution before it (one weight and one bias where the source has six tensors), stores a
PyTorch LSTM's gates in its own order with the two biases summed, splits a recurrent
layer's gates into one matrix each (a neural network's LSTM layer, the loop body a PyTorch
GRU becomes), splits a Keras GRU's two bias rows, and transposes and casts anything. Each
:class:`Group` of source tensors (a layer, or a convolution with its BatchNorm) comes with
the :class:`Reading` s a converter may have made of it, each a list of :class:`Expected`
tensors computed from the source; :mod:`convstudy.coreml_weights` looks for them among the
converted model's constants. Transpositions and casts are left to the matching.

Tensor names are the frameworks' (:func:`convstudy.frameworks.Adapter.weights`): PyTorch
``state_dict`` names (``layer1.0.bn1.running_mean``, ``lstm.weight_ih_l0``) and Keras
variable paths (``layer1_0_bn1/moving_mean``, ``lstm/lstm_cell/kernel``). A BatchNorm is
paired with the convolution its layer name gives with "bn" read as "conv" (the study's
models name them so), else with the closest convolution before it of as many channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: PyTorch's LSTM gate order (input, forget, cell, output) read in MIL's lstm order
#: (input, forget, output, cell).
TORCH_LSTM_TO_MIL = (0, 1, 3, 2)


@dataclass(frozen=True)
class Expected:
    """A tensor the converted model may hold, computed from source tensors.

    Attributes:
        value: its values (float64).
        sources: the source tensors it is computed from.
        rewrite: the converter's rewrite that makes it ("" for a source tensor as it is).
        what: what it is, for the report (e.g. "conv1 weight with bn1 folded in").
    """

    value: np.ndarray
    sources: tuple[str, ...]
    rewrite: str = ""
    what: str = ""


@dataclass(frozen=True)
class Reading:
    """One way a converter may have stored a group of source tensors."""

    name: str
    expected: tuple[Expected, ...]


@dataclass(frozen=True)
class Group:
    """Source tensors converted together, and the readings to try (as-is first)."""

    tensors: tuple[str, ...]
    readings: tuple[Reading, ...]


def groups(source: Mapping[str, np.ndarray], *, bn_epsilon: float) -> list[Group]:
    """Every source tensor in exactly one group, with the readings of its layer kind.

    Args:
        source: the trained model's tensors by framework name.
        bn_epsilon: the BatchNorm epsilon of the model (folding divides by
            ``sqrt(var + epsilon)``).
    """
    layers = _layers(source)
    claimed: set[str] = set()
    found: list[Group] = []
    for layer, params in layers.items():
        if _is_batchnorm(params) and layer not in claimed:
            conv = _conv_of(layer, layers, claimed)
            group = _bn_group(layer, params, conv, layers.get(conv or "", {}), bn_epsilon)
            claimed.update(name for name in (layer, conv) if name is not None)
            found.append(group)
    for layer, params in layers.items():
        if layer in claimed:
            continue
        recurrent = _torch_recurrent(params) or _keras_recurrent(params)
        if recurrent:
            found.extend(recurrent)
        else:
            found.extend(_as_is({name: value}) for name, value in params.items())
    return found


# ---- layers and their roles


def _layers(source: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Source tensors by layer (the name before its last "." or "/"), in source order."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for name, value in source.items():
        sep = "/" if "/" in name else "."
        layer = name.rsplit(sep, 1)[0] if sep in name else ""
        layers.setdefault(layer, {})[name] = np.asarray(value, np.float64)
    return layers


def _param(params: Mapping[str, np.ndarray], *keys: str) -> str | None:
    """The name of the tensor of ``params`` whose last component is one of ``keys``."""
    for name in params:
        if name.replace("/", ".").rsplit(".", 1)[-1] in keys:
            return name
    return None


def _is_batchnorm(params: Mapping[str, np.ndarray]) -> bool:
    return _param(params, "running_mean", "moving_mean") is not None


def _conv_kernel(params: Mapping[str, np.ndarray]) -> str | None:
    """The kernel of a convolution layer (3 or more axes), or None."""
    name = _param(params, "weight", "kernel")
    return name if name is not None and params[name].ndim >= 3 else None


def _out_axis(kernel_name: str) -> int:
    """The output-channel axis of a convolution kernel: PyTorch OIHW, Keras HWIO."""
    return -1 if "/" in kernel_name else 0


def _conv_of(
    bn: str, layers: Mapping[str, Mapping[str, np.ndarray]], claimed: set[str]
) -> str | None:
    """The convolution layer BatchNorm ``bn`` follows (None: a BatchNorm on its own)."""
    channels = layers[bn][_param(layers[bn], "running_mean", "moving_mean") or ""].shape[0]

    def fits(layer: str) -> bool:
        kernel = _conv_kernel(layers.get(layer, {}))
        return (
            layer not in claimed
            and kernel is not None
            and layers[layer][kernel].shape[_out_axis(kernel)] == channels
        )

    at = bn.rfind("bn")
    named = bn[:at] + "conv" + bn[at + 2 :] if at >= 0 else None
    if named is not None and fits(named):
        return named
    before = list(layers)[: list(layers).index(bn)]
    return next((layer for layer in reversed(before) if fits(layer)), None)


# ---- readings


def _as_is(params: Mapping[str, np.ndarray]) -> Group:
    return Group(tuple(params), (_as_is_reading(params),))


def _as_is_reading(params: Mapping[str, np.ndarray]) -> Reading:
    return Reading("as-is", tuple(Expected(v, (n,)) for n, v in params.items()))


def _bn_group(
    bn: str,
    bn_params: Mapping[str, np.ndarray],
    conv: str | None,
    conv_params: Mapping[str, np.ndarray],
    epsilon: float,
) -> Group:
    """A BatchNorm (and its convolution): as-is, folded into the convolution, or (alone)
    as a per-channel scale and shift."""
    mean = _param(bn_params, "running_mean", "moving_mean") or ""
    var = _param(bn_params, "running_var", "moving_variance") or ""
    gamma = _param(bn_params, "weight", "gamma")
    beta = _param(bn_params, "bias", "beta")
    value = {**bn_params, **conv_params}
    scale = (value[gamma] if gamma else 1.0) / np.sqrt(value[var] + epsilon)
    shift_of_mean = (value[beta] if beta else 0.0) - value[mean] * scale
    scale_from = tuple(n for n in (gamma, var) if n)
    shift_from = tuple(n for n in (gamma, beta, mean, var) if n)
    tensors = (*conv_params, *bn_params)
    readings = [_as_is_reading(value)]
    if conv is not None:
        kernel = _conv_kernel(conv_params) or ""
        bias = _param(conv_params, "bias")
        axis = _out_axis(kernel) % value[kernel].ndim
        shape = [1] * value[kernel].ndim
        shape[axis] = -1
        folded_bias = shift_of_mean + (value[bias] * scale if bias else 0.0)
        what = f"{conv} with {bn} folded in"
        readings.append(
            Reading(
                "bn-folded",
                (
                    Expected(
                        value[kernel] * scale.reshape(shape),
                        (kernel, *scale_from),
                        "bn-folded",
                        f"{what}: weight",
                    ),
                    Expected(
                        np.asarray(folded_bias),
                        (*((bias,) if bias else ()), *shift_from),
                        "bn-folded",
                        f"{what}: bias",
                    ),
                    *(Expected(v, (n,)) for n, v in conv_params.items() if n not in (kernel, bias)),
                ),
            )
        )
    else:
        readings.append(
            Reading(
                "bn-as-scale",
                (
                    Expected(scale, scale_from, "bn-as-scale", f"{bn} as a scale"),
                    Expected(shift_of_mean, shift_from, "bn-as-scale", f"{bn} as a shift"),
                ),
            )
        )
    return Group(tensors, tuple(readings))


def _gate_slices(
    name: str, value: np.ndarray, gates: int, axis: int, rewrite: str, what: str
) -> list[Expected]:
    """Each gate's slice of ``value`` along ``axis``."""
    return [
        Expected(chunk, (name,), rewrite, f"{what}, gate {g}")
        for g, chunk in enumerate(np.split(value, gates, axis=axis))
    ]


def _to_mil_lstm(value: np.ndarray) -> np.ndarray:
    """A PyTorch LSTM tensor with its gates in MIL's order."""
    return np.concatenate([np.split(value, 4)[g] for g in TORCH_LSTM_TO_MIL])


def _torch_recurrent(params: Mapping[str, np.ndarray]) -> list[Group]:
    """PyTorch LSTM/GRU layers (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
    ``bias_hh_l0``; one group per stacked layer and direction). Gates are stacked along
    axis 0: LSTM (i, f, g, o), GRU (r, z, n)."""
    found = []
    for w_ih in [n for n in params if n.rsplit(".", 1)[-1].startswith("weight_ih_")]:
        w_hh, b_ih, b_hh = (
            w_ih.replace("weight_ih_", f"{k}_") for k in ("weight_hh", "bias_ih", "bias_hh")
        )
        if any(n not in params for n in (w_hh, b_ih, b_hh)):
            continue
        members = {n: params[n] for n in (w_ih, w_hh, b_ih, b_hh)}
        gates = params[w_ih].shape[0] // params[w_hh].shape[1]
        weights = [
            e for n in (w_ih, w_hh) for e in _gate_slices(n, params[n], gates, 0, "gates-split", n)
        ]
        readings = [_as_is_reading(members)]
        if gates == 4:  # an LSTM: only the sum of its two biases matters
            summed = params[b_ih] + params[b_hh]
            how = "gates ifgo stored as ifog"
            readings.append(
                Reading(
                    "gates-reordered",
                    (
                        Expected(_to_mil_lstm(params[w_ih]), (w_ih,), "gates-reordered", how),
                        Expected(_to_mil_lstm(params[w_hh]), (w_hh,), "gates-reordered", how),
                        Expected(
                            _to_mil_lstm(summed),
                            (b_ih, b_hh),
                            "gates-reordered+biases-summed",
                            f"b_ih + b_hh, {how}",
                        ),
                    ),
                )
            )
            biases = _gate_slices(b_ih, summed, 4, 0, "gates-split+biases-summed", "b_ih + b_hh")
            biases = [Expected(e.value, (b_ih, b_hh), e.rewrite, e.what) for e in biases]
            readings.append(Reading("gates-split+biases-summed", (*weights, *biases)))
        biases = [
            e for n in (b_ih, b_hh) for e in _gate_slices(n, params[n], gates, 0, "gates-split", n)
        ]
        readings.append(Reading("gates-split", (*weights, *biases)))
        found.append(Group(tuple(members), tuple(readings)))
    return found


def _keras_recurrent(params: Mapping[str, np.ndarray]) -> list[Group]:
    """A Keras LSTM/GRU cell (``kernel`` (inputs, gates x units), ``recurrent_kernel``,
    ``bias``; a GRU with ``reset_after`` has two bias rows, input and recurrent): as-is,
    its bias rows split, or every gate apart."""
    kernel, recurrent = _param(params, "kernel"), _param(params, "recurrent_kernel")
    if kernel is None or recurrent is None:
        return []
    bias = _param(params, "bias")
    gates = params[kernel].shape[1] // params[recurrent].shape[0]
    rows = list(params[bias]) if bias is not None and params[bias].ndim == 2 else []
    kernels = {n: v for n, v in params.items() if n != bias}
    readings = [_as_is_reading(params)]
    if rows and bias is not None:
        split_rows = [
            Expected(r, (bias,), "bias-split", f"bias row {i}") for i, r in enumerate(rows)
        ]
        readings.append(Reading("bias-split", (*_as_is_reading(kernels).expected, *split_rows)))
    slices = [e for n, v in kernels.items() for e in _gate_slices(n, v, gates, 1, "gates-split", n)]
    if bias is not None:
        for i, row in enumerate(rows or [params[bias]]):
            slices += _gate_slices(bias, row, gates, 0, "gates-split", f"{bias} row {i}")
    readings.append(Reading("gates-split", tuple(slices)))
    return [Group(tuple(params), tuple(readings))]
