"""The PyTorch adapter: models are ``nn.Module``s saved as a ``state_dict`` (``model.torch``)
and rebuilt from the study's architecture code, so loading never unpickles code."""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models
from convstudy.errors import ConfigError
from convstudy.frameworks import EpochFn, EvalFn, Predict, progress
from convstudy.spec import ModelSpec

NAME = "torch"
logger = logging.getLogger(__name__)
#: Where models train and predict (set by :func:`use_device`).
_device = "cpu"
#: cuBLAS needs a fixed workspace for deterministic results (PyTorch's reproducibility notes).
CUBLAS_WORKSPACE = ":4096:8"
#: Adam's epsilon: Keras' default value, in both frameworks.
ADAM_EPSILON = 1e-7
#: Where Adam's epsilon enters the update: torch's place, or Keras' (``adam_epsilon``).
ADAM_EPSILON_PLACEMENTS = ("framework", "keras")


def use_device(requested: str) -> str:
    """See :meth:`convstudy.frameworks.Adapter.use_device`. On a GPU: cuDNN deterministic
    and not benchmarking, ``CUBLAS_WORKSPACE_CONFIG`` set (with
    ``torch.use_deterministic_algorithms`` of :func:`seed`).

    Raises:
        ConfigError: a CUDA device is asked for and PyTorch sees none (or not that one).
    """
    import torch

    global _device
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        _device = "cpu"
        return _device
    index = int(requested.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device: {requested!r}, but PyTorch sees {torch.cuda.device_count()} CUDA device(s)"
            f" (torch {torch.__version__}; the default install is the CPU build)"
        )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    _device = f"cuda:{index}"
    return _device


def seed(seed: int) -> None:
    """Seed Python, numpy and torch; ask torch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def limit_threads(n: int) -> None:
    """``n`` intra-op threads, one inter-op thread."""
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process: it may be set once only
        pass


def thread_counts() -> dict[str, int]:
    """torch's intra- and inter-op thread counts."""
    import torch

    return {
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
    }


def save(model: Any, path: Path) -> None:
    """Save the ``state_dict`` (tensors only)."""
    import torch

    torch.save(model.state_dict(), path)


def load(path: Path, spec: ModelSpec, *, unroll: bool = False) -> Any:
    """Rebuild the architecture of ``spec`` and load the tensors (``weights_only``)."""
    import torch

    model = models.build(
        spec.model, NAME, input_shape=spec.input_shape, num_classes=spec.num_classes, arch=spec.arch
    )
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def predictor(model: Any) -> Predict:
    """Batch inference without autograd."""
    import torch

    model.to(_device)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x).to(_device)).cpu().numpy()

    return predict


def weights(model: Any) -> dict[str, np.ndarray]:
    """``state_dict`` names (``layer1.0.bn1.running_mean``); integer buffers such as
    BatchNorm's ``num_batches_tracked`` are counters, not weights, and are left out."""
    return {
        name: tensor.detach().cpu().numpy().astype(np.float32, copy=True)
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }


def set_weights(model: Any, weights: Mapping[str, np.ndarray]) -> None:
    """Copy ``weights`` (by ``state_dict`` name) into the model."""
    import torch

    state = model.state_dict()
    for name, value in weights.items():
        state[name] = torch.from_numpy(np.asarray(value, dtype=np.float32)).to(state[name].dtype)
    model.load_state_dict(state)


def count_parameters(model: Any) -> int:
    """Parameters with ``requires_grad``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _adam_epsilon(hyper: Mapping[str, Any]) -> str:
    placement = str(hyper.get("adam_epsilon", "framework"))
    if placement not in ADAM_EPSILON_PLACEMENTS:
        raise ValueError(f"adam_epsilon {placement!r}: expected one of {ADAM_EPSILON_PLACEMENTS}")
    return placement


def keras_epsilon_schedule(opt: Any, step: int) -> None:
    """Give torch's Adam the epsilon of Keras' update at ``step`` (1-based).

    torch divides by ``sqrt(v_t / (1 - beta2^t)) + eps``, Keras by
    ``(sqrt(v_t) + eps) / sqrt(1 - beta2^t)`` (``keras/src/optimizers/adam.py``): Keras' rule
    is torch's with ``eps / sqrt(1 - beta2^t)`` in place of ``eps``, which this sets.
    """
    for group in opt.param_groups:
        group["eps"] = ADAM_EPSILON / math.sqrt(1.0 - group["betas"][1] ** step)


def trainer(model: Any, hyper: Mapping[str, Any]) -> tuple[EpochFn, EvalFn]:
    """SGD (with momentum) or Adam, cross-entropy on logits, the given batch order.

    ``hyper["adam_epsilon"]`` (optional): ``"framework"`` (default) adds Adam's epsilon
    where torch does, after the bias correction of the second moment; ``"keras"`` adds it
    where Keras does, before (:func:`keras_epsilon_schedule`).
    """
    import torch

    model.to(_device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if hyper["optimizer"] == "sgd":
        opt = torch.optim.SGD(
            params, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"]
        )
    else:
        # Keras' epsilon value (1e-7; torch's default is 1e-8). The update rules still
        # differ in where epsilon enters (see keras_epsilon_schedule).
        opt = torch.optim.Adam(
            params, lr=hyper["lr"], eps=ADAM_EPSILON, weight_decay=hyper["weight_decay"]
        )
    keras_epsilon = _adam_epsilon(hyper) == "keras"
    loss_fn = torch.nn.CrossEntropyLoss()
    batch_size = hyper["batch_size"]
    steps = 0

    def epoch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        nonlocal steps
        model.train()
        total_loss, correct = 0.0, 0
        n_batches = -(-len(x) // batch_size)
        for batch, start in enumerate(range(0, len(x), batch_size), start=1):
            progress(batch, n_batches, logger.info)
            xb = torch.from_numpy(x[start : start + batch_size]).to(_device)
            yb = torch.from_numpy(y[start : start + batch_size]).to(_device)
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            if keras_epsilon:
                steps += 1
                keras_epsilon_schedule(opt, steps)
            opt.step()
            total_loss += loss.item() * len(xb)
            correct += int((logits.argmax(1) == yb).sum())
        return total_loss / len(x), correct / len(x)

    @torch.no_grad()
    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        model.eval()
        logits = torch.cat(
            [model(torch.from_numpy(x[s : s + 512]).to(_device)) for s in range(0, len(x), 512)]
        )
        target = torch.from_numpy(y).to(_device)
        return float(loss_fn(logits, target)), float((logits.argmax(1) == target).float().mean())

    return epoch, evaluate


def foolbox_model(model: Any, bounds: tuple[float, float]) -> Any:
    """``fb.PyTorchModel`` on the CPU, in eval mode."""
    import foolbox as fb

    return fb.PyTorchModel(model.eval(), bounds=bounds, device="cpu")


def tensor(array: np.ndarray) -> Any:
    """A CPU tensor sharing the array's data."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))
