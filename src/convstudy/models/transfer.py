"""Copying weights between a torch model and its Keras twin, in either direction.

Keras layer names are the torch module paths with "." replaced by "_" (see the model
modules), so :func:`torch_to_keras` and :func:`keras_to_torch` walk the torch modules and
convert each one's weights into the layout of the other framework's layer of the same name.
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


def _convert(module: Any, keras_model: Any, model_name: str, layer_name: str) -> list[np.ndarray]:
    """The Keras ``set_weights`` list for one torch module, or [] if it has no weights."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        weights = [_np(module.weight).transpose(2, 3, 1, 0)]  # OIHW -> HWIO
        return weights + ([_np(module.bias)] if module.bias is not None else [])
    if isinstance(module, nn.Linear):
        kernel = _np(module.weight).T  # (out, in) -> (in, out)
        if _DENSE_AFTER_FLATTEN.get(model_name) == layer_name:
            kernel = kernel[_flatten_permutation(keras_model)]
        return [kernel, _np(module.bias)]
    if isinstance(module, nn.BatchNorm2d):
        stats = [module.weight, module.bias, module.running_mean, module.running_var]
        return [_np(t) for t in stats]  # Keras order: gamma, beta, moving mean/var
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


def torch_to_keras(torch_model: Any, keras_model: Any, name: str) -> None:
    """Copy all weights (incl. BatchNorm running statistics) of ``torch_model`` into
    ``keras_model``, the Keras definition of the same architecture ``name``.

    Raises:
        ValueError: a torch module has no Keras layer of the matching name, a shape does
            not match, or a Keras layer with weights received none.
    """
    from torch import nn

    if not isinstance(torch_model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(torch_model).__name__}")
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
        expected = [tuple(w.shape) for w in layer.weights]
        got = [w.shape for w in weights]
        if expected != got:
            raise ValueError(f"{layer_name}: Keras expects shapes {expected}, got {got}")
        layer.set_weights(weights)
        assigned.add(layer_name)
    missed = [layer.name for layer in keras_model.layers if layer.weights]
    missed = [layer_name for layer_name in missed if layer_name not in assigned]
    if missed:
        raise ValueError(f"Keras layers received no torch weights: {missed}")


def _to_torch(
    module: Any, weights: list[np.ndarray], keras_model: Any, model_name: str, layer_name: str
) -> dict[str, np.ndarray]:
    """The torch tensors (by the module's own ``state_dict`` names) for one torch module
    from the Keras ``get_weights`` list of its layer: the inverse of :func:`_convert`."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        tensors = {"weight": weights[0].transpose(3, 2, 0, 1)}  # HWIO -> OIHW
        return tensors | ({"bias": weights[1]} if module.bias is not None else {})
    if isinstance(module, nn.Linear):
        kernel = weights[0]
        if _DENSE_AFTER_FLATTEN.get(model_name) == layer_name:
            unpermuted = np.empty_like(kernel)
            unpermuted[_flatten_permutation(keras_model)] = kernel
            kernel = unpermuted
        return {"weight": kernel.T, "bias": weights[1]}
    if isinstance(module, nn.BatchNorm2d):
        names = ("weight", "bias", "running_mean", "running_var")
        return dict(zip(names, weights, strict=True))
    if isinstance(module, nn.Embedding):
        return {"weight": weights[0]}
    if isinstance(module, nn.LSTM):
        # Keras' one bias is torch's b_ih; the study's torch LSTM keeps b_hh frozen at zero.
        return {
            "weight_ih_l0": weights[0].T,
            "weight_hh_l0": weights[1].T,
            "bias_ih_l0": weights[2],
            "bias_hh_l0": np.zeros_like(weights[2]),
        }
    if isinstance(module, nn.GRU):
        return {
            "weight_ih_l0": _gru_blocks(weights[0].T),
            "weight_hh_l0": _gru_blocks(weights[1].T),
            "bias_ih_l0": _gru_blocks(weights[2][0]),
            "bias_hh_l0": _gru_blocks(weights[2][1]),
        }
    if next(module.parameters(recurse=False), None) is not None:
        raise TypeError(f"no Keras->torch mapping for {type(module).__name__} {layer_name!r}")
    return {}


def keras_to_torch(keras_model: Any, torch_model: Any, name: str) -> None:
    """Copy all weights (incl. BatchNorm moving statistics) of ``keras_model`` into
    ``torch_model``, the torch definition of the same architecture ``name``: the inverse
    of :func:`torch_to_keras`.

    Raises:
        ValueError: a torch module has no Keras layer of the matching name, a shape does
            not match, or a Keras layer with weights was not copied.
    """
    import torch
    from torch import nn

    if not isinstance(torch_model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(torch_model).__name__}")
    assigned: set[str] = set()
    for module_name, module in torch_model.named_modules():
        if not module_name or next(module.parameters(recurse=False), None) is None:
            continue
        layer_name = module_name.replace(".", "_")
        layer = keras_model.get_layer(layer_name)  # ValueError names a missing layer
        tensors = _to_torch(module, layer.get_weights(), keras_model, name, layer_name)
        state = module.state_dict()
        for key, value in tensors.items():
            if tuple(state[key].shape) != value.shape:
                raise ValueError(
                    f"{module_name}.{key}: torch expects shape {tuple(state[key].shape)}, "
                    f"got {value.shape} from Keras layer {layer_name!r}"
                )
            state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        module.load_state_dict(state)
        assigned.add(layer_name)
    missed = [layer.name for layer in keras_model.layers if layer.weights]
    missed = [layer_name for layer_name in missed if layer_name not in assigned]
    if missed:
        raise ValueError(f"Keras layers copied to no torch module: {missed}")
