"""What a model folder says about its model: ``spec.json``, beside every model artifact.

Every trained or converted model lives in a folder with its artifact (``model.torch``,
``model.onnx``, ...), its record and ``spec.json``: the architecture, the format, the
input layout (which converters change: NCHW becomes NHWC, int32 token ids become int64,
the input is renamed), the classes and, for text models, the vocabulary. Loading a model,
running it on framework-neutral data or converting it needs only its folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.errors import DataError

SPEC_FILE = "spec.json"


@dataclass(frozen=True)
class InputLayout:
    """How a model takes its input.

    Attributes:
        axes: "NCHW" or "NHWC" (images) or "NL" (token ids).
        dtype: numpy dtype name of the input ("float32", "int32", "int64").
        scale: images are ``uint8 / scale`` (values in [0, 1]); None for token ids.
        name: the input's name in the artifact ("x" unless a converter renamed it).
    """

    axes: str
    dtype: str
    scale: float | None
    name: str = "x"

    def to_neutral(self, x: np.ndarray) -> np.ndarray:
        """Model inputs in this layout back to framework-neutral order (NHWC images as
        float in [0, 1]; token ids as int64)."""
        if self.scale is None:
            return np.asarray(x).astype(np.int64)
        x = np.asarray(x, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.axes == "NCHW" else x

    def batch_shape(self, input_shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
        """The model input shape of a batch, from the framework-neutral ``input_shape``."""
        if self.axes == "NCHW":
            h, w, c = input_shape
            return (batch, c, h, w)
        return (batch, *input_shape)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Framework-neutral data as this input: uint8 NHWC images (scaled by ``scale``),
        float NHWC images already in [0, 1] (adversarial examples), or integer token ids.

        Raises:
            ValueError: ``x`` is not what this layout's model takes.
        """
        x = np.asarray(x)
        if self.scale is None:
            if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
                raise ValueError(
                    f"expected integer token ids (N, seq_len), got {x.dtype} {x.shape}"
                )
            if x.size and (x.min() < 0 or x.max() > np.iinfo(np.int32).max):
                raise ValueError("token ids out of int32 range")
            return x.astype(self.dtype)
        if x.ndim != 4 or not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"expected uint8 images (N, H, W, C), got {x.dtype} {x.shape}")
        images = (
            x.astype(np.float32) / np.float32(self.scale)
            if x.dtype == np.uint8
            else x.astype(np.float32)
        )
        if self.axes == "NCHW":
            images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return images.astype(self.dtype, copy=False)


@dataclass(frozen=True)
class ModelSpec:
    """A model folder's model: enough to rebuild, load, feed and convert it.

    Attributes:
        model: the study's model name (:data:`convstudy.registry.MODELS`).
        dataset: the dataset it was trained on.
        format: the format of the artifact in this folder
            (:data:`convstudy.registry.FORMATS`).
        input_shape: framework-neutral input shape without batch: (H, W, C) or (seq_len,).
        num_classes: width of the output (logits).
        arch: architecture settings of the builders (``vocab_size``, ``embed_dim``, ...).
        layout: how the artifact takes its input.
        vocab: text models: index -> word of the tokeniser the model was trained with.
    """

    model: str
    dataset: str
    format: str
    input_shape: tuple[int, ...]
    num_classes: int
    layout: InputLayout
    arch: Mapping[str, int] = field(default_factory=dict)
    vocab: tuple[str, ...] | None = None

    def converted(self, format_name: str, **layout: Any) -> ModelSpec:
        """The spec of this model converted to ``format_name`` (layout fields changed)."""
        return replace(self, format=format_name, layout=replace(self.layout, **layout))

    def observed(
        self, format_name: str, *, shape: tuple[int | None, ...], dtype: str, name: str
    ) -> ModelSpec:
        """The spec of this model converted to ``format_name``, whose artifact was found to
        take input ``name`` of ``shape`` (batch first) and ``dtype``: converters change
        axis order (onnx2tf: NCHW -> NHWC), integer width (litert-torch: int64 -> int32)
        and names, and the harness feeds what the artifact takes.

        Raises:
            ValueError: the shape is neither layout of this model's input.
        """
        dims = tuple(shape[1:])
        if self.layout.scale is None:
            axes = "NL"
        elif dims == tuple(self.input_shape):
            axes = "NHWC"
        elif len(dims) == 3 and dims == (self.input_shape[2], *self.input_shape[:2]):
            axes = "NCHW"
        else:
            raise ValueError(
                f"{format_name} input {name!r} has shape {list(shape)}: neither NHWC nor NCHW "
                f"of {list(self.input_shape)}"
            )
        return self.converted(format_name, axes=axes, dtype=np.dtype(dtype).name, name=name)

    def dump(self, folder: str | Path) -> Path:
        """Write ``spec.json`` into ``folder``."""
        path = Path(folder) / SPEC_FILE
        payload = asdict(self)
        path.write_text(json.dumps(payload, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ModelSpec:
        """Read ``spec.json`` of a model folder.

        Raises:
            DataError: the folder has no readable spec.
        """
        path = Path(folder) / SPEC_FILE
        try:
            payload = json.loads(path.read_text())
            payload["layout"] = InputLayout(**payload["layout"])
            payload["input_shape"] = tuple(payload["input_shape"])
            if payload.get("vocab") is not None:
                payload["vocab"] = tuple(payload["vocab"])
            return cls(**payload)
        except FileNotFoundError:
            raise DataError(f"{path}: missing (not a model folder of this project)") from None
        except (ValueError, TypeError, KeyError) as error:
            raise DataError(f"{path}: not a model spec ({error})") from error

    def example(self, batch: int = 2, seed: int = 0) -> np.ndarray:
        """A seeded batch of valid inputs in this model's layout (for tracing, exporting)."""
        rng = np.random.default_rng(seed)
        if self.layout.scale is None:
            vocab = int(self.arch.get("vocab_size", 2))
            return self.layout.prepare(rng.integers(0, vocab, (batch, *self.input_shape)))
        return self.layout.prepare(rng.integers(0, 256, (batch, *self.input_shape), dtype=np.uint8))
