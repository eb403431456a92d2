"""Optional dependencies a framework imports at start-up and no job uses, hidden while it
imports.

TensorFlow imports Keras when it starts, and both import, when they are installed,
scikit-learn (Keras's scikit-learn wrappers), pandas (Keras's DataFrame inputs),
matplotlib (Keras's image gallery) and scipy (sparse inputs of TensorFlow's legacy Keras),
each in a ``try: import`` that lets it be absent: about a third of the CPU time of
``import tensorflow`` (3.5 s -> 2.4 s here), in every job that imports TensorFlow or Keras,
and no job hands either of them a DataFrame, a sparse matrix or a plot. The packages stay
installed (the report, the localizer and textattack need them). :func:`install` makes the
first import of each package of :data:`OPTIONAL` run with those distributions hidden
(:func:`convstudy.envs.without`); every other import, and a later import of any of them by
the job itself, is untouched. Written here because the import system offers only the
parts: a meta path finder that finds the package as the other finders do and wraps its
loader. ``python -m convstudy.lean_imports`` measures the saving.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

from convstudy import envs

#: A package -> the distributions hidden while it is first imported.
_UNUSED = frozenset({"scikit-learn", "pandas", "matplotlib", "scipy"})
OPTIONAL: dict[str, frozenset[str]] = {"tensorflow": _UNUSED, "keras": _UNUSED}


class _HidingLoader(importlib.abc.Loader):
    """The package's own loader, run with ``hidden`` not importable."""

    def __init__(self, inner: Any, hidden: frozenset[str]) -> None:
        self.inner = inner
        self.hidden = hidden

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self.inner.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The module's spec names its own loader again, for whoever reads it later.
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        with envs.without(self.hidden):
            self.inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self.inner, name)


class _LeanFinder(importlib.abc.MetaPathFinder):
    """Finds the packages of :data:`OPTIONAL` as the other finders do, with the loader
    wrapped; finds nothing else."""

    def __init__(self) -> None:
        self.busy = False

    def find_spec(self, fullname: str, *_: object) -> importlib.machinery.ModuleSpec | None:
        """The package's spec with a hiding loader; None for any other module."""
        if fullname not in OPTIONAL or self.busy:
            return None
        self.busy = True
        try:  # the other finders, guards included, decide whether and where it is
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _HidingLoader(spec.loader, OPTIONAL[fullname])
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, _LeanFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LeanFinder())


def _measure(repeats: int = 3) -> None:
    """Print the CPU seconds of ``import tensorflow`` in fresh interpreters, as it is and
    with :func:`install` (the median of ``repeats``)."""
    import statistics
    import subprocess

    probe = (
        "import resource, sys{setup}\n"
        "import tensorflow\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(usage.ru_utime + usage.ru_stime, 'pandas' in sys.modules)\n"
    )
    for name, setup in (
        ("as it is", ""),
        ("lean", "; import convstudy.lean_imports as l; l.install()"),
    ):
        runs = [
            subprocess.run(
                [sys.executable, "-c", probe.format(setup=setup)],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            for _ in range(repeats)
        ]  # fmt: skip
        seconds = statistics.median(float(run[0]) for run in runs)
        print(f"import tensorflow, {name}: {seconds:.2f} s of CPU; pandas imported: {runs[0][1]}")


if __name__ == "__main__":
    _measure()
