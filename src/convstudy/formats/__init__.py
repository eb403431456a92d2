"""Formats: one module per way a model is stored, owning everything that depends on it.

A format module (the registry's ``Format.module``; one module may serve several formats,
e.g. ONNX and ONNX FP16) provides::

    ARTIFACT: str                   the model's file or folder name inside a model folder
    detect(path) -> str | None      the format of a file or folder a user brings, when it
                                    is one of this module's
    signature(artifact) -> Signature
                                    the input's name, shape and dtype, the number of outputs
    load(artifact, spec, *, threads, settings=None) -> Predict
                                    the model in its runtime: one input batch (in the
                                    model's own layout) -> its outputs; raises NotRunnable
                                    when the runtime does not exist on this host
    onnx_view(artifact, spec) -> OnnxView
                                    the model as an ONNX graph (for the localization), with
                                    the model's own prediction function to verify it by

and optionally ``use_device(requested, spec) -> str`` (the runtime follows the config's
``device``) and ``thread_counts(predict) -> dict``. ``spec`` is ``None`` for a file a user
brings without a model folder. Format modules import their frameworks inside functions,
and neither converters nor jobs are imported by them: a converter reaches another format
through the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from convstudy import registry
from convstudy.errors import ConfigError
from convstudy.spec import ModelSpec

#: One batch of a model's own input -> its outputs (logits), as numpy arrays.
Predict = Callable[[np.ndarray], np.ndarray]


class NotRunnable(Exception):
    """This format's runtime cannot run here (e.g. the CoreML runtime on Linux)."""


@dataclass(frozen=True)
class Signature:
    """A model's input and output, as its file declares them.

    Attributes:
        name: the input's name.
        shape: the input's shape, batch axis first; None for a dynamic axis.
        dtype: the input's numpy dtype name.
        classes: the size of the output's last axis (None when the file does not say).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    classes: int | None = None


@dataclass
class OnnxView:
    """A model as an ONNX graph.

    Attributes:
        model: the graph (``onnx.ModelProto``).
        own: the model's own prediction function (None when the view *is* the model).
        how: how the view was made, for the report.
    """

    model: Any
    own: Predict | None
    how: str


class FormatModule(Protocol):
    """What a format module provides (see the module docstring)."""

    ARTIFACT: str

    def detect(self, path: Path) -> str | None: ...

    def signature(self, artifact: Path) -> Signature: ...

    def load(
        self,
        artifact: Path,
        spec: ModelSpec,
        *,
        threads: int,
        settings: Mapping[str, Any] | None = None,
    ) -> Predict: ...

    def onnx_view(self, artifact: Path, spec: ModelSpec | None) -> OnnxView: ...


def module(format_name: str) -> FormatModule:
    """The module of format ``format_name``."""
    return cast(FormatModule, registry.module(registry.fmt(format_name).module))


def modules() -> list[FormatModule]:
    """Every format module of the registry, once each, in registry order."""
    names = dict.fromkeys(entry.module for entry in registry.FORMATS.values())
    return [cast(FormatModule, registry.module(name)) for name in names]


def detect(path: str | Path, key: str = "matrix.sources") -> str:
    """The format of the model file or folder ``path`` a user brings.

    Raises:
        ConfigError: no such file, or no format module recognises it (naming ``key``).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"invalid config key '{key}': {path}: no such file or folder")
    for candidate in modules():
        found = candidate.detect(path)
        if found is not None:
            return found
    known = ", ".join(
        sorted({s for m in modules() for s in getattr(m, "SUFFIXES", ())} | {"a SavedModel folder"})
    )
    raise ConfigError(f"invalid config key '{key}': {path}: not a model file ({known})")


def load(
    folder: Path,
    *,
    threads: int,
    spec: ModelSpec | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Predict:
    """Load the model of a model folder in its format's runtime (with its ``settings``)."""
    spec = spec or ModelSpec.load(folder)
    owner = module(spec.format)
    return owner.load(folder / owner.ARTIFACT, spec, threads=threads, settings=settings)


def use_device(spec: ModelSpec, requested: str) -> str:
    """Ask the runtime of ``spec`` for device ``requested``; return the device it uses
    ("cpu" for a runtime that has no choice)."""
    chooser = getattr(module(spec.format), "use_device", None)
    return str(chooser(requested, spec)) if chooser else "cpu"


def thread_counts(spec: ModelSpec, predict: Predict) -> dict[str, int]:
    """The thread counts the runtime of ``spec`` reports for a loaded model ({} if it
    cannot say)."""
    reader = getattr(module(spec.format), "thread_counts", None)
    return dict(reader(predict)) if reader else {}


def artifact(folder: Path, spec: ModelSpec) -> Path:
    """The artifact of the model folder ``folder``."""
    return folder / module(spec.format).ARTIFACT


def convert_with_registry(
    folder: Path, spec: ModelSpec, target: str, out: Path, settings: Mapping[str, Any]
) -> str:
    """Convert the model of ``folder`` to ``target`` at ``out`` with the registry's converter
    of that hop (a format's ONNX view reuses the study's own converter); return its name."""
    entry = registry.converter(spec.format, target)
    registry.module(entry.module).convert(folder, spec, out, settings=settings)
    return entry.name
