"""Copying weights between a torch model and its Keras twin, by layer name.

Keras layer names are the torch module paths with "." replaced by "_" (see the model
modules), so :func:`torch_to_keras` walks the torch modules and converts each one's
weights into the layout of the Keras layer of the same name, and :func:`keras_to_torch`
does the reverse (convolutions, depthwise convolutions, dense layers, batch normalisation,
embeddings, LSTM and GRU). Both check that every weight of either side is assigned exactly once
and that every shape agrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The dense layer that follows Flatten, per model: torch flattens (C, H, W) and Keras
#: (H, W, C), so that layer's input rows must be permuted.
_DENSE_AFTER_FLATTEN: dict[str, str] = {"lenet5": "fc1", "vgg16": "fc"}
#: torch GRU gate blocks are (r, z, n); Keras' are (z, r, h): pick torch blocks 1, 0, 2.
#: The same swap maps Keras' order back to torch's.
_GRU_TORCH_TO_KERAS = (1, 0, 2)


def _np(tensor: Any) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def _gru_blocks(array: np.ndarray) -> np.ndarray:
    """Reorder the 3 gate blocks along axis 0 from torch (r, z, n) to Keras (z, r, h), or
    back (the swap is its own inverse)."""
    blocks = np.split(array, 3, axis=0)
    return np.concatenate([blocks[i] for i in _GRU_TORCH_TO_KERAS], axis=0)


def _flatten_permutation(keras_model: Any) -> np.ndarray:
    """Row order mapping Keras' (H, W, C) flat index to torch's (C, H, W) flat index."""
    _, h, w, c = keras_model.get_layer("flatten").input.shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _is_depthwise(module: Any) -> bool:
    return bool(module.groups > 1 and module.groups == module.in_channels)


def _has_gamma(layer: Any) -> bool:
    """Whether a Keras BatchNormalization layer has a scale (Keras's ``scale=False``: no)."""
    return bool(getattr(layer, "scale", True))


def _frozen_unit_scale(module: Any, layer_name: str) -> None:
    """A torch BN twin of a Keras BN without scale must keep its weight at one."""
    if module.weight.requires_grad or not bool((module.weight == 1).all()):
        raise ValueError(
            f"{layer_name}: the Keras layer has no scale; the torch weight must be frozen at one"
        )


def _convert(module: Any, keras_model: Any, model_name: str, layer_name: str) -> list[np.ndarray]:
    """The Keras ``set_weights`` list for one torch module, or [] if it has no weights."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        if _is_depthwise(module):  # (C*M, 1, kh, kw) -> Keras depthwise (kh, kw, C, M)
            weights = [_np(module.weight).transpose(2, 3, 0, 1)]
        elif module.groups == 1:
            weights = [_np(module.weight).transpose(2, 3, 1, 0)]  # OIHW -> HWIO
        else:
            raise TypeError(f"no torch->Keras mapping for grouped convolution {layer_name!r}")
        return weights + ([_np(module.bias)] if module.bias is not None else [])
    if isinstance(module, nn.Linear):
        kernel = _np(module.weight).T  # (out, in) -> (in, out)
        if _DENSE_AFTER_FLATTEN.get(model_name) == layer_name:
            kernel = kernel[_flatten_permutation(keras_model)]
        return [kernel, _np(module.bias)]
    if isinstance(module, nn.BatchNorm2d):
        stats = [_np(module.bias), _np(module.running_mean), _np(module.running_var)]
        if _has_gamma(keras_model.get_layer(layer_name)):
            return [_np(module.weight), *stats]  # Keras order: gamma, beta, moving mean/var
        _frozen_unit_scale(module, layer_name)
        return stats
    if isinstance(module, nn.Embedding):
        return [_np(module.weight)]
    if isinstance(module, nn.LSTM):
        # Same gate order (i, f, g/c, o); Keras' single bias is the sum of torch's two.
        return [
            _np(module.weight_ih_l0).T,
            _np(module.weight_hh_l0).T,
            _np(module.bias_ih_l0) + _np(module.bias_hh_l0),
        ]
    if isinstance(module, nn.GRU):
        # Keras (reset_after) stores the input and recurrent biases as rows of one array.
        return [
            _gru_blocks(_np(module.weight_ih_l0)).T,
            _gru_blocks(_np(module.weight_hh_l0)).T,
            np.stack([_gru_blocks(_np(module.bias_ih_l0)), _gru_blocks(_np(module.bias_hh_l0))]),
        ]
    if next(module.parameters(recurse=False), None) is not None:
        raise TypeError(f"no torch->Keras mapping for {type(module).__name__} {layer_name!r}")
    return []


def _check_torch(torch_model: Any) -> None:
    from torch import nn

    if not isinstance(torch_model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(torch_model).__name__}")


def _missed(keras_model: Any, assigned: set[str]) -> list[str]:
    """Keras layers with weights that nothing was assigned to or taken from."""
    return [
        layer.name for layer in keras_model.layers if layer.weights and layer.name not in assigned
    ]


def torch_to_keras(torch_model: Any, keras_model: Any, name: str) -> None:
    """Copy all weights (incl. BatchNorm running statistics) of ``torch_model`` into
    ``keras_model``, the Keras definition of the same architecture ``name``.

    Raises:
        ValueError: a torch module has no Keras layer of the matching name, a shape does
            not match, or a Keras layer with weights received none.
    """
    _check_torch(torch_model)
    if name in ("lstm", "gru") and name not in dict(torch_model.named_children()):
        raise ValueError(f"torch model has no {name!r} layer")
    assigned: set[str] = set()
    for module_name, module in torch_model.named_modules():
        if not module_name:
            continue
        layer_name = module_name.replace(".", "_")
        weights = _convert(module, keras_model, name, layer_name)
        if not weights:
            continue
        layer = keras_model.get_layer(layer_name)  # ValueError names a missing layer
        if layer_name in assigned:
            raise ValueError(f"{layer_name}: two torch modules map to this Keras layer")
        expected = [tuple(w.shape) for w in layer.weights]
        got = [w.shape for w in weights]
        if expected != got:
            raise ValueError(f"{layer_name}: Keras expects shapes {expected}, got {got}")
        layer.set_weights(weights)
        assigned.add(layer_name)
    missed = _missed(keras_model, assigned)
    if missed:
        raise ValueError(f"Keras layers received no torch weights: {missed}")


def _torch_tensors(module: Any, layer: Any, model_name: str, keras_model: Any) -> dict[str, Any]:
    """The torch tensors (by their name in ``module``) of Keras ``layer``'s weights, in
    the torch layout, for one module."""
    from torch import nn

    values = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
    if isinstance(module, nn.Conv2d):
        if _is_depthwise(module):
            kernel = values[0].transpose(2, 3, 0, 1)  # (kh, kw, C, M) -> (C*M, 1, kh, kw)
        elif module.groups == 1:
            kernel = values[0].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        else:
            raise TypeError(f"no Keras->torch mapping for grouped convolution {layer.name!r}")
        out = {"weight": kernel}
        if module.bias is not None:
            if len(values) != 2:
                raise ValueError(f"{layer.name}: the torch convolution has a bias, Keras has none")
            out["bias"] = values[1]
        return out
    if isinstance(module, nn.Linear):
        kernel = values[0]
        if _DENSE_AFTER_FLATTEN.get(model_name) == layer.name:
            kernel = kernel[np.argsort(_flatten_permutation(keras_model))]
        return {"weight": kernel.T, "bias": values[1]}
    if isinstance(module, nn.BatchNorm2d):
        if _has_gamma(layer):
            gamma, beta, mean, var = values
            return {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": var}
        _frozen_unit_scale(module, layer.name)
        beta, mean, var = values
        return {"bias": beta, "running_mean": mean, "running_var": var}
    if isinstance(module, nn.Embedding):
        return {"weight": values[0]}
    if isinstance(module, nn.LSTM):
        # Keras' one bias is torch's b_ih; the study's torch LSTM keeps b_hh frozen at zero.
        return {
            "weight_ih_l0": values[0].T,
            "weight_hh_l0": values[1].T,
            "bias_ih_l0": values[2],
            "bias_hh_l0": np.zeros_like(values[2]),
        }
    if isinstance(module, nn.GRU):
        return {
            "weight_ih_l0": _gru_blocks(values[0].T),
            "weight_hh_l0": _gru_blocks(values[1].T),
            "bias_ih_l0": _gru_blocks(values[2][0]),
            "bias_hh_l0": _gru_blocks(values[2][1]),
        }
    raise TypeError(f"no Keras->torch mapping for {type(module).__name__} {layer.name!r}")


def keras_to_torch(keras_model: Any, torch_model: Any, name: str) -> None:
    """Copy all weights (incl. BatchNorm moving statistics) of ``keras_model`` into
    ``torch_model``, the PyTorch definition of the same architecture ``name``: the
    inverse of :func:`torch_to_keras`.

    Raises:
        ValueError: a torch module has no Keras layer of the matching name, a shape does not
            match, a torch tensor received no value, or a Keras layer's weights were not used.
    """
    import torch

    _check_torch(torch_model)
    state = torch_model.state_dict()
    new: dict[str, Any] = {}
    used: set[str] = set()
    for module_name, module in torch_model.named_modules():
        if not module_name or next(module.parameters(recurse=False), None) is None:
            continue
        layer_name = module_name.replace(".", "_")
        layer = keras_model.get_layer(layer_name)  # ValueError names a missing layer
        for tensor_name, value in _torch_tensors(module, layer, name, keras_model).items():
            key = f"{module_name}.{tensor_name}"
            if tuple(state[key].shape) != value.shape:
                raise ValueError(
                    f"{key}: torch expects shape {tuple(state[key].shape)}, "
                    f"Keras {layer_name} gives {value.shape}"
                )
            new[key] = torch.from_numpy(np.ascontiguousarray(value)).to(state[key].dtype)
        used.add(layer_name)
    missed = _missed(keras_model, used)
    if missed:
        raise ValueError(f"Keras layers whose weights no torch module took: {missed}")
    unset = [
        key
        for key, tensor in state.items()
        if key not in new and tensor.is_floating_point() and not _frozen_unit(torch_model, key)
    ]
    if unset:
        raise ValueError(f"torch tensors that received no Keras weights: {unset}")
    torch_model.load_state_dict({**state, **new})


def _frozen_unit(torch_model: Any, key: str) -> bool:
    """Whether ``key`` is the frozen unit scale of a BN whose Keras twin has no scale."""
    module_name, _, tensor_name = key.rpartition(".")
    if tensor_name != "weight":
        return False
    tensor = torch_model.get_submodule(module_name).weight
    return not tensor.requires_grad and bool((tensor == 1).all())
