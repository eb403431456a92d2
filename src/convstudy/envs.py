"""The conda environment of each rule's jobs, and a way to run a job as if inside it.

The workflow's ``conda:`` directives call :func:`rule_env`, so the workflow and the check
agree on which environment a job runs in.

Why the check exists: under ``--sdm conda``, Snakemake appends the host's own
``sys.path`` to every script's (it needs its own package to unpickle the job), so a
distribution missing from an env file does not fail: it is silently taken from the host,
in whatever version the host has. With ``CONVSTUDY_CHECK_ENVS=1`` each job instead runs
behind an :class:`EnvImportGuard`: only the distributions its env file provides (its pip
requirements and their declared dependencies) can be found. An optional import of
anything else fails as it would inside the env, and the library goes on without it; a
required one fails the job, and its log names what was hidden.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

#: Set to 1 to run every job with only its conda env's distributions importable.
CHECK_ENV_VAR = "CONVSTUDY_CHECK_ENVS"

#: The project's env files, beside the package in a checkout.
ENVS_DIR = Path(__file__).resolve().parents[2] / "envs"

#: What a job may import without its env file listing it, with their dependencies: the
#: host's snakemake (the script preamble imports it from the host's path) and the
#: packaging tools every conda Python has.
HOST_PROVIDED = ("snakemake", "pip", "setuptools", "wheel")
#: This package, imported from the checkout's src/ (its own dependencies are not given).
PACKAGE = "convstudy"

_DATA_RULES = ("fetch_dataset", "prepare_dataset")
_TABLE_RULES = ("compare", "gather", "report")


def rule_env(rule: str, wildcards: Mapping[str, str]) -> str:
    """The name of the environment (``envs/<name>.yaml``) that runs a job of ``rule``.

    Args:
        rule: the rule's name.
        wildcards: the job's wildcards (``framework``, ``format`` or ``target``, ...).
    """
    if rule in _DATA_RULES:
        return "data"
    if rule in _TABLE_RULES:
        return "report"
    if rule not in ("train", "convert", "predict"):
        raise ValueError(f"no conda environment is defined for rule {rule!r}")
    fmt = wildcards.get("format", wildcards.get("target", "original"))
    if fmt.startswith("coreml"):
        return "coreml"
    if rule == "predict" and fmt == "onnx":
        return "onnxruntime"
    return wildcards["framework"]


def env_file(name: str, envs_dir: Path = ENVS_DIR) -> Path:
    """The file of environment ``name``."""
    return envs_dir / f"{name}.yaml"


def pip_requirements(path: Path) -> list[str]:
    """The pip requirements of a conda environment file (its one ``pip:`` section)."""
    import yaml

    spec = yaml.safe_load(path.read_text())
    sections = [dep["pip"] for dep in spec["dependencies"] if isinstance(dep, dict)]
    if len(sections) != 1:
        raise ValueError(f"{path}: expected one pip section, found {len(sections)}")
    return [str(requirement) for requirement in sections[0]]


def canonical(name: str) -> str:
    """A distribution name in its normalised form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def provided_distributions(requirements: Iterable[str]) -> set[str]:
    """``requirements`` and everything they depend on, as the installed metadata declares.

    Markers are evaluated for this host, with the extras each requirement asks for. A
    requirement that is not installed here contributes its own name only.
    """
    from packaging.requirements import Requirement

    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    stack = [Requirement(requirement) for requirement in requirements]
    while stack:
        requirement = stack.pop()
        key = (canonical(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        try:
            declared = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        extras = requirement.extras or {""}
        for spec in declared:
            dependency = Requirement(spec)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
                stack.append(dependency)
    return names


def env_distributions(name: str, envs_dir: Path = ENVS_DIR) -> set[str]:
    """Every distribution a job in env ``name`` may import (see :data:`HOST_PROVIDED`)."""
    requirements = [*pip_requirements(env_file(name, envs_dir)), *HOST_PROVIDED]
    return provided_distributions(requirements) | {PACKAGE}


class EnvImportGuard:
    """While installed, modules of distributions env ``name`` lacks are not found.

    Each finder on ``sys.meta_path`` is wrapped so that such a module looks absent, as it
    would be inside the env: ``import`` raises ModuleNotFoundError,
    ``importlib.util.find_spec`` returns None (libraries probe optional modules both ways)
    and ``importlib.metadata`` does not know the distribution.
    Modules of no installed distribution (the standard library, this checkout's ``src/``)
    are left alone, as are modules imported before the guard was installed.
    """

    def __init__(self, name: str, envs_dir: Path = ENVS_DIR) -> None:
        self.name = name
        self.allowed = env_distributions(name, envs_dir)
        self.owners = {
            top: {canonical(dist) for dist in dists}
            for top, dists in metadata.packages_distributions().items()
        }
        #: Distributions whose modules were looked for and hidden.
        self.refused: set[str] = set()

    def hides(self, fullname: str) -> bool:
        """Whether ``fullname`` belongs to a distribution the env lacks (and note it)."""
        dists = self.owners.get(fullname.partition(".")[0], set())
        if dists and not dists & self.allowed:
            self.refused |= dists
            return True
        return False

    def install(self) -> None:
        """Wrap every finder now on ``sys.meta_path``."""
        sys.meta_path[:] = [_GuardedFinder(finder, self) for finder in sys.meta_path]

    def uninstall(self) -> None:
        """Put the wrapped finders back (finders added meanwhile stay)."""
        sys.meta_path[:] = [
            finder.inner if isinstance(finder, _GuardedFinder) and finder.guard is self else finder
            for finder in sys.meta_path
        ]

    def imported_outside(self) -> set[str]:
        """Distributions of modules now imported that the env lacks (imported unguarded)."""
        tops = {module.partition(".")[0] for module in list(sys.modules)}
        imported = {dist for top in tops for dist in self.owners.get(top, ())}
        return imported - self.allowed


class _GuardedFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that finds nothing its guard hides, and defers the rest."""

    def __init__(self, inner: Any, guard: EnvImportGuard) -> None:
        self.inner = inner
        self.guard = guard

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if self.guard.hides(fullname) or not hasattr(self.inner, "find_spec"):
            return None
        spec: importlib.machinery.ModuleSpec | None = self.inner.find_spec(fullname, path, target)
        return spec

    def find_distributions(
        self, context: metadata.DistributionFinder.Context | None = None
    ) -> Iterator[metadata.Distribution]:
        """The inner finder's distributions that the env provides (importlib.metadata)."""
        find = getattr(self.inner, "find_distributions", None)
        if find is None:
            return iter(())
        found = find(context or metadata.DistributionFinder.Context())
        return (dist for dist in found if canonical(dist.name) in self.guard.allowed)

    def invalidate_caches(self) -> None:
        if hasattr(self.inner, "invalidate_caches"):
            self.inner.invalidate_caches()
