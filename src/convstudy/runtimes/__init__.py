"""Runtimes: one module per way of running a format, each with the same interface.

Interface of a runtime module::

    load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict
    thread_counts(predict: Predict) -> dict[str, int]      (optional)

``load`` reads a model into a ready-to-run state (the time it takes is the load time; the
runtime's import is not part of it) and returns a function from one input batch, in the
model's own layout (``spec.layout``), to its outputs (logits). It may raise
:class:`NotRunnable` when the runtime does not exist on this host: the cell is then
reported as not run, with the reason, never dropped or faked. A runtime with settings in
the config (``evaluation.<runtime>``) takes them as a ``settings`` keyword.
``thread_counts`` reads back the thread counts the runtime really uses.
``use_device(requested: str, spec) -> str`` (optional) moves the runtime to a device (the
config's ``device``); a runtime without it runs on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from convstudy import registry
from convstudy.frameworks import Predict
from convstudy.spec import ModelSpec


class NotRunnable(Exception):
    """This runtime cannot run here (e.g. the CoreML runtime on Linux)."""


class RuntimeModule(Protocol):
    """What a runtime module provides."""

    def load(self, artifact: Path, spec: ModelSpec, *, threads: int) -> Predict:
        """Load ``artifact``; return its batch prediction function."""


def runtime_of(spec: ModelSpec) -> registry.Runtime:
    """The runtime that runs the format of ``spec``."""
    return registry.runtime(registry.fmt(spec.format).runtime)


def load(
    folder: Path,
    *,
    threads: int,
    spec: ModelSpec | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Predict:
    """Load the model of a model folder in its format's runtime (with its ``settings``)."""
    spec = spec or ModelSpec.load(folder)
    module = cast(RuntimeModule, registry.module(runtime_of(spec).module))
    artifact = folder / registry.fmt(spec.format).artifact
    if settings:
        return cast(Predict, module.load(artifact, spec, threads=threads, settings=settings))  # type: ignore[call-arg]
    return module.load(artifact, spec, threads=threads)


def use_device(spec: ModelSpec, requested: str) -> str:
    """Ask the runtime of ``spec`` for device ``requested``; return the device it uses
    ("cpu" for a runtime that has no choice)."""
    module = registry.module(runtime_of(spec).module)
    chooser = getattr(module, "use_device", None)
    return str(chooser(requested, spec)) if chooser else "cpu"


def thread_counts(spec: ModelSpec, predict: Predict) -> dict[str, int]:
    """The thread counts the runtime of ``spec`` reports for a loaded model ({} if it
    cannot say)."""
    module = registry.module(runtime_of(spec).module)
    reader = getattr(module, "thread_counts", None)
    return dict(reader(predict)) if reader else {}
