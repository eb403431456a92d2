"""Runtimes: one module per way of running a format, each with the same interface.

Interface of a runtime module::

    load(artifact: Path, spec: ModelSpec, *, threads: int) -> Predict

loads a model (the time it takes is the load time) and returns a function from one input
batch, in the model's own layout (``spec.layout``), to its outputs (logits). ``load`` may
raise :class:`NotRunnable` when the runtime does not exist on this host: the cell is then
reported as not run, with the reason, never dropped or faked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, cast

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


def load(folder: Path, *, threads: int, spec: ModelSpec | None = None) -> Predict:
    """Load the model of a model folder in its format's runtime."""
    spec = spec or ModelSpec.load(folder)
    module = cast(RuntimeModule, registry.module(runtime_of(spec).module))
    return module.load(folder / registry.fmt(spec.format).artifact, spec, threads=threads)
