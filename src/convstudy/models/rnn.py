"""LSTM and GRU text classifiers (IMDb), defined identically in PyTorch and Keras.

Embedding(vocab_size, embed_dim) -> one LSTM/GRU layer (``hidden`` units) -> output of
the last time step -> dense logits. Padding zeros are ordinary tokens in both frameworks
(no ``padding_idx``, no ``mask_zero``), so both see exactly the same sequence.

Layer names, identical in both frameworks: ``embedding``, ``lstm`` or ``gru``, ``fc``.
The torch class is created on first use and exposed as ``rnn.RNNClassifier`` so that
pickling a model works.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import keras
    from torch import nn

RNNKind = Literal["lstm", "gru"]
KINDS: tuple[str, ...] = ("lstm", "gru")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown recurrent kind {kind!r}; expected one of {KINDS}")


@functools.cache
def _torch_class() -> type:
    import torch
    from torch import nn

    class RNNClassifier(nn.Module):
        """Embedding -> LSTM/GRU (batch_first) -> last step -> linear logits."""

        def __init__(
            self, kind: str, vocab_size: int, embed_dim: int, hidden: int, num_classes: int
        ) -> None:
            super().__init__()
            self.kind = kind
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            cell_cls = nn.LSTM if kind == "lstm" else nn.GRU
            cell = cell_cls(embed_dim, hidden, num_layers=1, batch_first=True)
            if kind == "lstm":
                # torch's LSTM adds two biases (b_ih + b_hh) that only ever appear summed;
                # Keras' LSTM has one. Freezing b_hh at zero gives both frameworks the same
                # function class and the same trainable parameter count, and the Keras
                # bias is then exactly b_ih. (torch's GRU keeps both: b_hn sits inside the
                # reset gate product, and Keras' reset_after GRU has the same two biases.)
                with torch.no_grad():
                    cell.bias_hh_l0.zero_()  # type: ignore[operator]
                cell.bias_hh_l0.requires_grad_(False)
            self.add_module(kind, cell)
            self.fc = nn.Linear(hidden, num_classes)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = getattr(self, self.kind)(self.embedding(tokens))
            return self.fc(out[:, -1, :])

    RNNClassifier.__module__ = __name__
    RNNClassifier.__qualname__ = "RNNClassifier"
    return RNNClassifier


def __getattr__(name: str) -> Any:
    if name == "RNNClassifier":
        return _torch_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_torch(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    kind: RNNKind,
    vocab_size: int,
    embed_dim: int,
    hidden: int,
) -> nn.Module:
    """Torch classifier taking int32/int64 token ids of shape (N, seq_len) for any seq_len."""
    _check_kind(kind)
    module: nn.Module = _torch_class()(kind, vocab_size, embed_dim, hidden, num_classes)
    return module


def build_keras(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    kind: RNNKind,
    vocab_size: int,
    embed_dim: int,
    hidden: int,
    unroll: bool = False,
) -> keras.Model:
    """Keras classifier taking int32 token ids of shape (N, seq_len), ``input_shape`` being
    ``(seq_len,)``.

    Args:
        unroll: build the recurrence as ``seq_len`` explicit steps. Keras 3 LSTM/GRU
            convert to CoreML only when unrolled; the weights are the same either way
            (``unrolled.set_weights(rolled.get_weights())``).
    """
    import keras
    from keras import layers

    _check_kind(kind)
    inputs = keras.Input(shape=tuple(input_shape), dtype="int32", name="input")
    x = layers.Embedding(vocab_size, embed_dim, name="embedding")(inputs)
    if kind == "lstm":
        x = layers.LSTM(hidden, unroll=unroll, name="lstm")(x)
    else:
        # reset_after=True (the default) is torch's GRU formulation with two biases.
        x = layers.GRU(hidden, reset_after=True, unroll=unroll, name="gru")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inputs, outputs, name=kind)
