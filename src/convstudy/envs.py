"""Which conda env each job runs in, and a way to run a job as if inside it.

Every rule names its env in its ``conda:`` directive: an env file (``envs/<name>.yaml``,
possibly with a wildcard, ``envs/{framework}.yaml``) or a function of the workflow module
:mod:`convstudy.workflow` that picks it from the registry (the converter's env for a hop,
the runtime's env for a prediction).

Why the check exists: under ``--sdm conda``, Snakemake appends the host's own
``sys.path`` to every script's (it needs its own package to unpickle the job), so a
distribution missing from an env file does not fail: it is silently taken from the host,
in whatever version the host has. With ``CONVSTUDY_CHECK_ENVS=1`` each job instead runs
behind an :class:`EnvImportGuard`: only the distributions its env file provides (its pip
requirements and their declared dependencies) can be found. An optional import of
anything else fails as it would inside the env, and the library goes on without it; a
required one fails the job, and its log names what was hidden. The workflow hands each
job its rule's ``conda:`` value through the config key :data:`RULE_ENVS_KEY` (only when
the check is on, so that the config of ordinary runs is untouched).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
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

#: The config key that carries {rule: its conda directive} to the jobs during the check.
RULE_ENVS_KEY = "_convstudy_rule_envs"


def conda_directive(value: Any) -> str | None:
    """A rule's ``conda:`` value as text: the env name (``report``, ``{framework}``) of an
    env file, or ``module:function`` of the function that picks it."""
    if value is None:
        return None
    if callable(value):
        return f"{value.__module__}:{value.__qualname__}"
    return Path(str(value)).name.removesuffix(".yaml")


def rule_envs(rules: Iterable[Any]) -> dict[str, str]:
    """``{rule name: conda directive}`` of the workflow's rules (Snakemake ``Rule`` objects)."""
    return {
        rule.name: directive
        for rule in rules
        if (directive := conda_directive(rule.conda_env)) is not None
    }


def job_env(directive: str, wildcards: Mapping[str, str]) -> str:
    """The env name of one job, from its rule's :func:`conda_directive` and its wildcards."""
    if ":" not in directive:
        return directive.format(**wildcards)
    module_name, _, function = directive.partition(":")
    path = getattr(importlib.import_module(module_name), function)(SimpleNamespace(**wildcards))
    return Path(str(path)).name.removesuffix(".yaml")


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


#: The comment line of an env file naming what is installed into it with ``--no-deps``
#: (which a conda pip section cannot say): ``# pip-no-deps: onnx2tf sng4onnx ...``.
NO_DEPS_MARK = "# pip-no-deps:"


def no_deps_requirements(path: Path) -> list[str]:
    """The distributions an env file says are installed into it with ``--no-deps``."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith(NO_DEPS_MARK):
            names += line.removeprefix(NO_DEPS_MARK).split()
    return names


def env_distributions(name: str, envs_dir: Path = ENVS_DIR) -> set[str]:
    """Every distribution a job in env ``name`` may import (see :data:`HOST_PROVIDED`):
    its pip requirements with their dependencies, and its ``--no-deps`` ones alone."""
    path = env_file(name, envs_dir)
    requirements = [*pip_requirements(path), *HOST_PROVIDED]
    no_deps = {canonical(n) for n in no_deps_requirements(path)}
    return provided_distributions(requirements) | no_deps | {PACKAGE}


def all_owners() -> dict[str, set[str]]:
    """Top-level module name -> the (canonical) installed distributions that provide it."""
    return {
        top: {canonical(dist) for dist in dists}
        for top, dists in metadata.packages_distributions().items()
    }


def top_level_modules(distribution: str) -> set[str]:
    """The top-level module names an installed distribution provides (none if it is not
    installed): its ``top_level.txt``, else the first part of its Python files' paths, as
    :func:`importlib.metadata.packages_distributions` finds them."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return set()
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return set(declared)
    return {
        path.parts[0] if len(path.parts) > 1 else path.stem
        for path in dist.files or ()
        if path.suffix == ".py" and path.parts[0] != ".."
    }


class ImportGuard:
    """While installed, the modules of some installed distributions are not found.

    Each finder on ``sys.meta_path`` is wrapped so that such a module looks absent, as if
    it were not installed: ``import`` raises ModuleNotFoundError,
    ``importlib.util.find_spec`` returns None (libraries probe optional modules both ways)
    and ``importlib.metadata`` does not know the distribution.
    Modules of no installed distribution (the standard library, this checkout's ``src/``)
    are left alone, as are modules imported before the guard was installed.
    """

    def __init__(self, owners: Mapping[str, set[str]]) -> None:
        #: Top-level module name -> the (canonical) distributions that install it.
        self.owners = owners
        #: Distributions whose modules were looked for and hidden.
        self.refused: set[str] = set()

    def shows(self, distribution: str) -> bool:
        """Whether the (canonical) ``distribution`` stays visible."""
        raise NotImplementedError

    def hides(self, fullname: str) -> bool:
        """Whether module ``fullname`` is hidden (and note its distribution if so)."""
        dists = self.owners.get(fullname.partition(".")[0], set())
        if dists and not any(self.shows(dist) for dist in dists):
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


class EnvImportGuard(ImportGuard):
    """Only the distributions conda env ``name`` provides can be imported."""

    def __init__(self, name: str, envs_dir: Path = ENVS_DIR) -> None:
        super().__init__(all_owners())
        self.name = name
        self.allowed = env_distributions(name, envs_dir)

    def shows(self, distribution: str) -> bool:
        """Whether the env provides ``distribution``."""
        return distribution in self.allowed

    def imported_outside(self) -> set[str]:
        """Distributions of modules now imported that the env lacks (imported unguarded)."""
        tops = {module.partition(".")[0] for module in list(sys.modules)}
        imported = {dist for top in tops for dist in self.owners.get(top, ())}
        return imported - self.allowed


class HiddenDistributions(ImportGuard):
    """The given distributions cannot be imported; everything else can.

    A distribution whose package is already imported stays visible: a library that finds
    ``torch`` in ``sys.modules`` goes on to import its submodules, which must not fail.
    """

    def __init__(self, distributions: Iterable[str]) -> None:
        # Only the hidden distributions' own modules are looked up: the map of every
        # installed distribution costs 0.2-0.5 s to build, in each job that hides some.
        hidden = {canonical(name) for name in distributions}
        super().__init__({top: {dist} for dist in hidden for top in top_level_modules(dist)})
        imported = {module.partition(".")[0] for module in list(sys.modules)}
        in_use = {dist for top in imported for dist in self.owners.get(top, ())}
        self.denied = hidden - in_use

    def shows(self, distribution: str) -> bool:
        """Whether ``distribution`` is not one of the hidden ones."""
        return distribution not in self.denied


@contextlib.contextmanager
def without(distributions: Iterable[str]) -> Iterator[None]:
    """Run the body as if ``distributions`` were not installed (those already imported
    stay usable, submodules included). For libraries that import every optional
    dependency they find."""
    guard = HiddenDistributions(distributions)
    guard.install()
    try:
        yield
    finally:
        guard.uninstall()


class _GuardedFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that finds nothing its guard hides, and defers the rest."""

    def __init__(self, inner: Any, guard: ImportGuard) -> None:
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
        return (dist for dist in found if self.guard.shows(canonical(dist.name)))

    def invalidate_caches(self) -> None:
        if hasattr(self.inner, "invalidate_caches"):
            self.inner.invalidate_caches()
