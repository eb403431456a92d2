"""What a study configuration contains: every enumeration of the grid, as pure functions.

The workflow (``workflow/rules/*.smk``) asks a :class:`Grid` which cells, routes, hops,
targets, attacks, matrix paths, brought models, converter releases and localization
candidates exist, which files each rule gathers and which files each named target (``rq1``
… ``report``, :data:`STAGES`) needs; it keeps only the path patterns' wiring, the wildcard
constraints and one-line input functions. Everything here is computed from the config alone
(and the formats of brought models, detected by the caller), so the unit tests call it
directly, without Snakemake.

Vocabulary (see :mod:`convstudy.registry`): a *cell* is model × framework × seed; a *route*
is a chain of formats from a cell's trained model; each of its prefixes is a *hop* (one
``convert`` job); a *target* is a prediction target: ``original`` or a route.

Wildcards are any mapping of wildcard names to values that also exposes them as attributes
(Snakemake's ``Wildcards``; :class:`W` in tests).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from typing import Any

from convstudy import ablation, registry
from convstudy.records import RECORD_TYPES

#: A prepared dataset enlarged for its models (``cifar10-75px``): the size it was enlarged to.
_RESIZED = re.compile(r"-(\d+)px$")

#: What ``from convstudy.grid import *`` gives the workflow: the path patterns.
__all__ = [
    "ABLATION",
    "ADVERSARIAL",
    "ATTACKED",
    "CELL",
    "COMPARISON",
    "CONVERTED",
    "DIRECT",
    "DIRECT_ADVERSARIAL",
    "LOCALIZATION",
    "LOCALIZATION_PAIRS",
    "LOULOUDAKIS_BASE_OUTPUTS",
    "LOULOUDAKIS_FAULTY",
    "LOULOUDAKIS_LOCALIZATION",
    "LOULOUDAKIS_PAIR",
    "MATRIX_PATH",
    "MATRIX_REPORT",
    "ORIGINAL_OUTPUTS",
    "PREDICTION",
    "REPLAY",
    "REPLAY_ORIGINAL",
    "REPLAY_ROUTE",
    "REPORT",
    "REPORT_TABLES",
    "ROBUST",
    "ROBUSTNESS_FIGURES",
    "ROBUSTNESS_RECORD",
    "ROBUSTNESS_TABLES",
    "ROUTE_OUTPUTS",
    "ROUTE_RECORD",
    "SELECTION",
    "SOURCE",
    "SOURCE_COMPARISON",
    "SOURCE_CONVERTED",
    "SOURCE_INPUTS",
    "SOURCE_MODEL",
    "SOURCE_ORIGINAL",
    "SOURCE_PATH",
    "SOURCE_PREDICTION",
    "SOURCE_ROUTE_OUTPUTS",
    "SOURCE_ROUTE_RECORD",
    "STAGES",
    "TABLE",
    "TRAINED",
    "VERSIONED",
    "VERSIONED_COMPARISON",
    "VERSIONED_PREDICTION",
    "VERSIONED_ROUTE",
    "VERSIONED_TARGET",
    "VERSION_ENV",
    "VERSION_ROOT",
    "WEIGHTS",
]

# ---- path patterns (wildcards in braces); every rule's inputs and outputs are built from these

CELL = "{model}/{framework}/seed{seed}"
TRAINED = f"results/models/{CELL}"
#: A model the initialisation ablation trains itself (an arm of :mod:`convstudy.ablation`).
ABLATION = "results/ablation/matched_init/{model}/{arm}/seed{seed}"
CONVERTED = f"results/converted/{CELL}/{{route}}"
PREDICTION = f"results/predictions/{CELL}/{{target}}"
ORIGINAL_OUTPUTS = f"results/predictions/{CELL}/original.npz"
ROUTE_OUTPUTS = f"results/predictions/{CELL}/{{route}}.npz"
ROUTE_RECORD = f"results/predictions/{CELL}/{{route}}.json"
COMPARISON = f"results/metrics/{CELL}/{{route}}.json"
WEIGHTS = f"results/weights/{CELL}/{{route}}.json"
ROBUST = f"results/robustness/{CELL}"
SELECTION = f"{ROBUST}/selection.json"
ADVERSARIAL = f"{ROBUST}/{{attack}}/adversarial.npz"
ATTACKED = f"{ROBUST}/{{attack}}/attack.json"
REPLAY = f"{ROBUST}/{{attack}}/replay/{{target}}.npz"
REPLAY_ORIGINAL = f"{ROBUST}/{{attack}}/replay/original.npz"
REPLAY_ROUTE = f"{ROBUST}/{{attack}}/replay/{{route}}.npz"
ROBUSTNESS_RECORD = f"{ROBUST}/{{attack}}/{{route}}.json"
DIRECT_ADVERSARIAL = f"{ROBUST}/boundary-direct/{{route}}/adversarial.npz"
DIRECT = f"{ROBUST}/boundary-direct/{{route}}/attack.json"
MATRIX_PATH = f"results/matrix/{CELL}/{{route}}.json"
LOCALIZATION = f"results/localization/{CELL}/{{route}}"
LOCALIZATION_PAIRS = "results/localization/pairs.json"
TABLE = "results/tables/{table}.csv"
REPORT = "results/report/{name}"
# converter releases side by side (workflow/rules/versions.smk)
VERSION_ENV = ".versions/{package}/{version}"
VERSION_ROOT = "results/versions/{package}/{version}"
VERSIONED = f"{VERSION_ROOT}/converted/{CELL}/{{route}}"
VERSIONED_TARGET = f"{VERSION_ROOT}/converted/{CELL}/{{target}}"
VERSIONED_PREDICTION = f"{VERSION_ROOT}/predictions/{CELL}/{{target}}"
VERSIONED_ROUTE = f"{VERSION_ROOT}/predictions/{CELL}/{{route}}"
VERSIONED_COMPARISON = f"{VERSION_ROOT}/metrics/{CELL}/{{route}}-vs-{{against}}.json"
# models the user brings as matrix sources (workflow/rules/sources.smk)
SOURCE = "results/sources/{source}"
SOURCE_MODEL = f"{SOURCE}/original"
SOURCE_INPUTS = f"{SOURCE}/inputs.npz"
SOURCE_CONVERTED = f"{SOURCE}/converted/{{route}}"
SOURCE_PREDICTION = f"{SOURCE}/predictions/{{target}}"
SOURCE_ORIGINAL = f"{SOURCE}/predictions/original.npz"
SOURCE_ROUTE_OUTPUTS = f"{SOURCE}/predictions/{{route}}.npz"
SOURCE_ROUTE_RECORD = f"{SOURCE}/predictions/{{route}}.json"
SOURCE_COMPARISON = f"{SOURCE}/metrics/{{route}}.json"
SOURCE_PATH = f"{SOURCE}/paths/{{route}}.json"
# Louloudakis et al.'s grid (workflow/rules/louloudakis.smk)
LOULOUDAKIS_BASE_OUTPUTS = f"results/predictions/{CELL}/{{base}}.npz"
LOULOUDAKIS_PAIR = f"results/louloudakis/pairs/{CELL}/{{base}}/{{route}}.json"
LOULOUDAKIS_FAULTY = "results/louloudakis/faulty.json"
LOULOUDAKIS_LOCALIZATION = f"results/louloudakis/localization/{CELL}/{{base}}/{{route}}"

# ---- what the report rules write, per stage

REPORT_TABLES = ("table1_accuracy", "table2_errors", "table3_time", "table4_size")
ROBUSTNESS_TABLES = (
    "table5_robustness_cnn",
    "table6_robustness_rnn",
    "table7_indicator",
    "boundary_bounded",
    "boundary_steps",
    "rq3_tests",
)
ROBUSTNESS_FIGURES = ("figure3_attack_cnn", "figure4_attack_rnn")
MATRIX_REPORT = ("matrix_paths", "matrix_hops")
#: The named targets of the workflow (``snakemake --cores 2 rq3``), in the order of the study.
STAGES = ("rq1", "rq2", "rq3", "ablation", "matrix", "localization", "sources", "versions",
          "louloudakis")  # fmt: skip


@dataclass(frozen=True)
class Pair:
    """One conversion of Louloudakis et al.'s grid: from ``source`` (a framework of the
    paper, its model at ``base``: ``original`` or a route of the cell) to ``target``, along
    ``route`` (the cell's route ending in the target's model)."""

    model: str
    framework: str
    seed: str
    source: str
    target: str
    base: str
    route: str


class W(dict[str, str]):
    """Wildcards for calling a :class:`Grid` function outside Snakemake: a dict whose keys
    are also attributes (as Snakemake's ``Wildcards``)."""

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _report(*names: str) -> list[str]:
    return [REPORT.format(name=name) for name in names]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _strs(values: Iterable[Any]) -> list[str]:
    return [str(value) for value in values]


@dataclass
class Grid:
    """The grid of one configuration.

    Args:
        config: the validated configuration (``config/config.yaml`` and overrides).
        pins: exact pins by distribution name (:func:`convstudy.config.read_pins`).
        source_formats: the format of each brought model (``matrix.sources``) by name.
    """

    config: Mapping[str, Any]
    pins: Mapping[str, str] = field(default_factory=dict)
    source_formats: Mapping[str, str] = field(default_factory=dict)

    # ---- the configured lists

    @cached_property
    def models(self) -> list[str]:
        return list(self.config["models"])

    @cached_property
    def frameworks(self) -> list[str]:
        return list(self.config["frameworks"])

    @cached_property
    def seeds(self) -> list[str]:
        """RQ1's seeds (as wildcard strings)."""
        return _strs(self.config["seeds"])

    def prepared_name(self, model: str) -> str:
        """The prepared dataset ``model`` trains on: its published dataset, or a copy of it
        enlarged to the model's ``training.<model>.image_size`` (``cifar10-75px``)."""
        size = self.config["training"][model].get("image_size")
        dataset = registry.model(model).dataset
        return f"{dataset}-{size}px" if size else dataset

    @cached_property
    def datasets(self) -> list[str]:
        """The prepared datasets of RQ1's models (the gathered tables' provenance)."""
        return sorted({self.prepared_name(model) for model in self.models})

    @cached_property
    def all_datasets(self) -> list[str]:
        """Every prepared dataset a cell trains on (RQ1's and Louloudakis's grid's)."""
        return sorted({self.prepared_name(model) for model in self.cell_models})

    @cached_property
    def source_datasets(self) -> list[str]:
        """The published datasets the prepared ones are made from (verified, fetched)."""
        return sorted({registry.model(model).dataset for model in self.cell_models})

    @staticmethod
    def base_dataset(wildcards: Any) -> str:
        """The published dataset of a prepared one (``cifar10-75px`` -> ``cifar10``)."""
        return str(_RESIZED.sub("", wildcards.dataset))

    @cached_property
    def cell_models(self) -> list[str]:
        """Every model a cell is trained for: the study's and Louloudakis's grid's."""
        return list(dict.fromkeys([*self.models, *self.louloudakis_models]))

    @cached_property
    def matrix(self) -> Mapping[str, Any]:
        return self.config.get("matrix") or {}

    @cached_property
    def matrix_seeds(self) -> list[str]:
        return _strs(self.matrix.get("seeds", []))

    @cached_property
    def matrix_models(self) -> list[str]:
        """The models converted along the matrix's paths (default: every model)."""
        return [m for m in self.matrix.get("models", self.models) if m in self.models]

    @cached_property
    def all_seeds(self) -> list[str]:
        return sorted(set(self.seeds) | set(self.matrix_seeds), key=int)

    @cached_property
    def robustness(self) -> Mapping[str, Any]:
        return self.config["robustness"]

    @cached_property
    def robust_seeds(self) -> list[str]:
        return _strs(self.robustness["seeds"])

    @cached_property
    def localization(self) -> Mapping[str, Any]:
        return self.config.get("localization") or {}

    @cached_property
    def localization_seeds(self) -> list[str]:
        return _strs(self.localization.get("seeds", []))

    @cached_property
    def versions(self) -> Mapping[str, Any]:
        return self.config.get("versions") or {}

    @cached_property
    def version_seeds(self) -> list[str]:
        return [s for s in _strs(self.versions.get("seeds", [])) if s in self.seeds]

    @cached_property
    def sources(self) -> dict[str, Mapping[str, Any]]:
        """The brought models (``matrix.sources``) by name."""
        return {entry["name"]: entry for entry in self.matrix.get("sources") or []}

    @property
    def source_entries(self) -> list[str]:
        """Each brought model as ``name: path``, in config order: the sources report's
        parameter, so that a changed set of sources rewrites the report."""
        return [f"{name}: {entry['path']}" for name, entry in self.sources.items()]

    @cached_property
    def prepared_dir(self) -> str:
        return str(self.config["datasets"]["prepared_dir"])

    @cached_property
    def raw_dir(self) -> str:
        return str(self.config["datasets"]["raw_dir"])

    # ---- routes and hops

    @cached_property
    def routes(self) -> dict[str, list[str]]:
        """RQ1's routes per framework: one per configured format."""
        return {
            fw: [registry.route_name(registry.route(fw, f)) for f in self.config["formats"]]
            for fw in self.frameworks
        }

    @cached_property
    def matrix_routes(self) -> dict[str, list[str]]:
        """The matrix's paths per framework (``matrix.paths``)."""
        paths = self.matrix.get("paths", {})
        return {
            fw: [registry.route_name(registry.matrix_route(fw, c)) for c in paths.get(fw, [])]
            for fw in self.frameworks
        }

    @cached_property
    def source_routes(self) -> dict[str, list[str]]:
        """The paths of each brought model (``matrix.source_paths`` of its format)."""
        paths = self.matrix.get("source_paths", {})
        return {
            name: [registry.route_name(registry.matrix_route(fmt, c)) for c in paths.get(fmt, [])]
            for name, fmt in self.source_formats.items()
        }

    @cached_property
    def hops(self) -> list[str]:
        """Every route any job converts (every prefix of every route), sorted."""
        routes = [
            *(r for rs in self.routes.values() for r in rs),
            *(r for rs in self.matrix_routes.values() for r in rs),
            *(r for rs in self.source_routes.values() for r in rs),
            *(pair.route for pair in self.pairs),
        ]
        return sorted({hop for r in routes for hop in registry.route_prefixes(r)})

    @cached_property
    def coreml_routes(self) -> list[str]:
        """RQ1's routes whose final format is read back with coremltools."""
        return sorted(
            {r for rs in self.routes.values() for r in rs if r.split("+")[-1].startswith("coreml")}
        )

    def rq1_routes_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        return self.routes[framework] if seed in self.seeds else []

    def matrix_routes_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        """The matrix paths of a cell (none for a model outside ``matrix.models``)."""
        if seed not in self.matrix_seeds or (model is not None and model not in self.matrix_models):
            return []
        return self.matrix_routes[framework]

    def hops_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        """Every hop of the cell's routes, once each, in order."""
        routes = [
            *self.rq1_routes_of(framework, seed),
            *self.matrix_routes_of(framework, seed, model),
        ]
        return _unique(h for r in routes for h in registry.route_prefixes(r))

    def coreml_routes_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        return [r for r in self.rq1_routes_of(framework, seed) if r in self.coreml_routes]

    def compared_routes_of(self, framework: str, seed: str) -> list[str]:
        """RQ1's routes, and every hop of every matrix path (which hop changed outputs)."""
        matrix_hops = (
            h for r in self.matrix_routes_of(framework, seed) for h in registry.route_prefixes(r)
        )
        return _unique([*self.rq1_routes_of(framework, seed), *matrix_hops])

    def targets_of(self, framework: str, seed: str, *, matrix: bool = True) -> list[str]:
        """The cell's prediction targets: the original and every compared route (RQ1's
        routes only with ``matrix=False``)."""
        if seed not in self.seeds and not (matrix and seed in self.matrix_seeds):
            return []
        routes = (
            self.compared_routes_of(framework, seed)
            if matrix
            else self.rq1_routes_of(framework, seed)
        )
        return [registry.ORIGINAL, *routes]

    def rq1_targets_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        """RQ1's prediction targets (the matrix's hops are in its own table)."""
        return self.targets_of(framework, seed, matrix=False)

    def localized_routes_of(self, framework: str, seed: str, model: str | None = None) -> list[str]:
        """RQ1's routes and the matrix's paths of a localized seed (each once)."""
        if seed not in self.localization_seeds:
            return []
        return _unique(
            [*self.rq1_routes_of(framework, seed), *self.matrix_routes_of(framework, seed, model)]
        )

    # ---- expansions over cells

    def per_route(
        self, pattern: str, wildcard: str, routes_of: Callable[[str, str, str], list[str]]
    ) -> list[str]:
        """``pattern`` for every cell, with ``wildcard`` running over ``routes_of(framework,
        seed, model)``."""
        return [
            pattern.format(model=model, framework=fw, seed=seed, **{wildcard: value})
            for model in self.models
            for fw in self.frameworks
            for seed in self.all_seeds
            for value in routes_of(fw, seed, model)
        ]

    def cells(self, pattern: str) -> list[str]:
        """``pattern`` for every cell of every seed."""
        return [
            pattern.format(model=m, framework=fw, seed=s)
            for m in self.models
            for fw in self.frameworks
            for s in self.all_seeds
        ]

    # ---- RQ3

    @cached_property
    def attacks_of(self) -> dict[str, list[str]]:
        """The configured attacks of each model (by its kind)."""
        configured = self.robustness["attacks"]
        return {m: [a for a in registry.attacks_for(m) if a in configured] for m in self.models}

    @property
    def attacked(self) -> bool:
        return any(self.attacks_of.values()) and bool(self.robust_seeds)

    def robust_cells(self, pattern: str, with_routes: bool = False) -> list[str]:
        """``pattern`` for every attacked cell and attack (and every RQ1 route)."""
        return [
            pattern.format(model=m, framework=fw, seed=s, attack=a, route=r)
            for m in self.models
            for fw in self.frameworks
            for s in self.robust_seeds
            for a in self.attacks_of[m]
            for r in (self.routes[fw] if with_routes else [""])
        ]

    def direct_attacks(self) -> list[str]:
        """The Boundary attacks run on converted models directly (``robustness.direct``)."""
        return [
            DIRECT.format(model=m, framework=fw, seed=s, route=r)
            for m in self.models
            if "boundary" in self.attacks_of[m]
            for fw in self.frameworks
            for s in self.robust_seeds
            for r in self.routes[fw]
            if r in self.robustness["direct"]
        ]

    # ---- gathered tables and the localization's candidates

    def gather_inputs(
        self, table: str, localization_pairs: Callable[[], list[Mapping[str, str]]]
    ) -> list[str]:
        """The records of ``table``, in a fixed order. ``localization_pairs`` gives the
        faulty pairs once the checkpoint has chosen them (only the localizations ask)."""
        inputs: dict[str, Callable[[], list[str]]] = {
            "attacks": lambda: self.robust_cells(ATTACKED) + self.direct_attacks(),
            "robustness": lambda: self.robust_cells(ROBUSTNESS_RECORD, with_routes=True),
            "training": lambda: self.cells(TRAINED),
            "conversions": lambda: self.per_route(CONVERTED, "route", self.hops_of),
            "coreml_weights": lambda: self.per_route(WEIGHTS, "route", self.coreml_routes_of),
            "predictions": lambda: self.per_route(
                f"{PREDICTION}.json", "target", self.rq1_targets_of
            ),
            "matrix": lambda: self.per_route(MATRIX_PATH, "route", self.matrix_routes_of),
            "localizations": lambda: [LOCALIZATION.format(**p) for p in localization_pairs()],
            "comparisons": lambda: self.per_route(COMPARISON, "route", self.rq1_routes_of),
        }
        return inputs[table]()

    def localization_candidates(self) -> list[str]:
        """The comparison of every RQ1 route and matrix path of the localized seeds."""
        return self.per_route(COMPARISON, "route", self.localized_routes_of)

    # ---- the initialisation ablation (:mod:`convstudy.ablation`)

    @cached_property
    def ablation_config(self) -> Mapping[str, Any]:
        return self.config["ablation"]["matched_init"]

    @cached_property
    def ablation_models(self) -> list[str]:
        """The ablation's models among the study's (a study narrowed to other models runs
        no ablation)."""
        return [m for m in self.ablation_config["models"] if m in self.models]

    @cached_property
    def ablation_seeds(self) -> list[str]:
        """The ablation's seeds (``null``: the study's)."""
        seeds = self.ablation_config["seeds"]
        return self.seeds if seeds is None else _strs(seeds)

    def ablation_arms_of(self, model: str) -> list[str]:
        """The configured arms that mean something for ``model`` (the epsilon arm: Adam)."""
        hyper = self.config["training"][model]
        arms = self.ablation_config.get("arms") or list(ablation.ARMS)
        return [arm for arm in ablation.ARMS if arm in arms and ablation.applies(arm, hyper)]

    def ablation_hyper(self, wildcards: Any) -> dict[str, Any]:
        """What an arm's training depends on: the model's hyperparameters with the
        ablation's epochs and the arm's epsilon placement."""
        return ablation.arm_hyper(
            self.config["training"][wildcards.model],
            wildcards.arm,
            self.ablation_config.get("epochs"),
        )

    def ablation_arm(self, wildcards: Any) -> dict[str, str]:
        """The framework that trains an arm and whose initial weights it starts from."""
        arm = ablation.ARMS[wildcards.arm]
        return {"framework": arm.framework, "init": arm.init}

    def adopting(self, weights: str) -> str:
        """A wildcard constraint matching the models whose training section says
        ``weights: <weights>`` (``keras`` or ``imagenet``), or nothing."""
        names = [
            m for m, section in self.config["training"].items() if section.get("weights") == weights
        ]
        return "|".join(map(re.escape, names)) or "(?!)"

    def adopted_versions(self, wildcards: Any) -> dict[str, str]:
        """The pinned versions of both frameworks, which a job adopting weights uses."""
        packages = [p for fw in ("keras", "torch") for p in registry.framework(fw).packages]
        return registry.pinned(tuple(dict.fromkeys(packages)), self.pins)

    def ablation_versions(self, wildcards: Any) -> dict[str, str]:
        """The pinned versions of the frameworks an arm's job uses."""
        arm = ablation.ARMS[wildcards.arm]
        used = [arm.framework] + ([] if arm.init == "own" else [arm.init])
        packages = [p for fw in used for p in registry.framework(fw).packages]
        return registry.pinned(tuple(dict.fromkeys(packages)), self.pins)

    def _reuses_study_model(self, model: str, arm: str, seed: str) -> bool:
        """Whether the study's own ``train`` job already trains this arm's model: an arm of
        ordinary training, a cell of the study that is trained (not imported), and the same
        hyperparameters (the ablation's ``epochs`` unset or equal)."""
        entry = ablation.ARMS[arm]
        imported = {
            (m["model"], m["framework"], str(m["seed"]))
            for m in self.config.get("imported_models") or []
        }
        hyper = self.config["training"][model]
        return (
            entry.own
            and model in self.models
            and entry.framework in self.frameworks
            and seed in self.seeds
            and (model, entry.framework, seed) not in imported
            and ablation.arm_hyper(hyper, arm, self.ablation_config.get("epochs")) == dict(hyper)
        )

    def ablation_model(self, model: str, arm: str, seed: str) -> str:
        """The model folder of an arm's cell: the study's own model where it is the same
        training, else the ablation's."""
        if self._reuses_study_model(model, arm, seed):
            return TRAINED.format(model=model, framework=ablation.ARMS[arm].framework, seed=seed)
        return ABLATION.format(model=model, arm=arm, seed=seed)

    def ablation_cells(self) -> list[tuple[str, str, str]]:
        """Every (model, arm, seed) of the ablation, in table order."""
        return [
            (model, arm, seed)
            for model in self.ablation_models
            for arm in self.ablation_arms_of(model)
            for seed in self.ablation_seeds
        ]

    def ablation_inputs(self) -> list[str]:
        """The model folders the ablation's report reads: one per (model, arm, seed)."""
        return [self.ablation_model(*cell) for cell in self.ablation_cells()]

    def ablation_trained(self) -> list[str]:
        """The model folders the ablation trains itself (``train_ablation`` jobs)."""
        return [
            ABLATION.format(model=model, arm=arm, seed=seed)
            for model, arm, seed in self.ablation_cells()
            if not self._reuses_study_model(model, arm, seed)
        ]

    # ---- converter releases side by side

    def version_entries(self) -> list[dict[str, str]]:
        """One entry per (package, release, cell, hop): the files the report reads."""
        entries = []
        releases = [(p, v) for p, vs in (self.versions.get("converters") or {}).items() for v in vs]
        cells = product(releases, self.models, self.frameworks, self.version_seeds)
        for (package, version), model, fw, seed in cells:
            for route in registry.hops_using(fw, self.routes[fw], package):
                at = {"package": package, "version": version, "model": model}
                at.update(framework=fw, seed=seed, route=route)
                entries.append(
                    {
                        "package": package,
                        "version": version,
                        "conversion": VERSIONED.format(**at),
                        "vs_original": VERSIONED_COMPARISON.format(**at, against="original"),
                        "vs_pinned": VERSIONED_COMPARISON.format(**at, against="pinned"),
                        "pinned_conversion": CONVERTED.format(**at),
                        "pinned_vs_original": COMPARISON.format(**at),
                    }
                )
        return entries

    def version_files(self) -> list[str]:
        """Every file the converter-releases report reads."""
        return [path for e in self.version_entries() for path in e.values() if "/" in path]

    # ---- brought models

    def source_paths_of(self, pattern: str) -> list[str]:
        """``pattern`` for every path of every brought model."""
        return [
            pattern.format(source=name, route=route)
            for name, routes in self.source_routes.items()
            for route in routes
        ]

    # ---- Louloudakis et al.'s grid: architectures as sources in four frameworks

    @cached_property
    def louloudakis(self) -> Mapping[str, Any]:
        return self.config.get("louloudakis") or {}

    @cached_property
    def louloudakis_models(self) -> list[str]:
        """The grid's models (none when it has no seeds)."""
        return list(self.louloudakis.get("models", [])) if self.louloudakis.get("seeds") else []

    @cached_property
    def pairs(self) -> list[Pair]:
        """Every (source, target, route) of the grid, for every model and seed: a source
        is a trained model or its conversion (``louloudakis.sources``: framework and the
        formats of its base route), a route the formats from there (``louloudakis.pairs``)."""
        sources = self.louloudakis.get("sources", {})
        found = []
        for model in self.louloudakis_models:
            for seed in _strs(self.louloudakis.get("seeds", [])):
                for source, targets in self.louloudakis.get("pairs", {}).items():
                    framework, *base = sources[source]
                    for target, chains in targets.items():
                        for chain in chains:
                            route = registry.route_name(
                                registry.matrix_route(framework, [*base, *chain])
                            )
                            found.append(
                                Pair(model, framework, seed, source, target,
                                     registry.route_name(base) if base else registry.ORIGINAL, route)
                            )  # fmt: skip
        return found

    def louloudakis_files(self, kind: str) -> list[str]:
        """What the grid's rules read: each pair's comparison (``pairs``), every hop's
        conversion folder of its route (``conversions``), its cells' trained models
        (``trained``) and their predictions' records (``originals``)."""

        def at(p: Pair, pattern: str, **more: str) -> str:
            return pattern.format(model=p.model, framework=p.framework, seed=p.seed, **more)

        if kind == "pairs":
            return _unique(at(p, LOULOUDAKIS_PAIR, base=p.base, route=p.route) for p in self.pairs)
        if kind == "trained":
            return _unique(at(p, TRAINED) for p in self.pairs)
        if kind == "originals":
            return _unique(
                at(p, PREDICTION, target=registry.ORIGINAL) + ".json" for p in self.pairs
            )
        return _unique(
            at(p, CONVERTED, route=hop)
            for p in self.pairs
            for hop in registry.route_prefixes(p.route)
        )

    def louloudakis_pair_dicts(self) -> list[dict[str, str]]:
        """The grid's pairs as plain values (a job's parameter)."""
        return [dataclasses.asdict(p) for p in self.pairs]

    def louloudakis_case_pairs(self) -> list[dict[str, str]]:
        """The pairs of the case study (``louloudakis.case``: model, source, target), which
        are localized whether or not they changed labels."""
        case = self.louloudakis.get("case") or {}
        return [
            {
                "model": p.model,
                "framework": p.framework,
                "seed": p.seed,
                "base": p.base,
                "route": p.route,
            }
            for p in self.pairs
            if (p.model, p.source, p.target)
            == (case.get("model"), case.get("source"), case.get("target"))
        ]

    def louloudakis_localizations(self, pairs: list[Mapping[str, str]]) -> list[str]:
        """The localization of every faulty pair (known once the checkpoint chose them)."""
        return [LOULOUDAKIS_LOCALIZATION.format(**pair) for pair in pairs]

    # ---- named targets

    def stage_targets(self, stage: str) -> list[str]:
        """The files the named target ``stage`` (one of :data:`STAGES`, or ``report``: every
        stage the config turns on) asks for. A stage the config turns off asks for nothing."""
        if stage == "report":
            # Louloudakis et al.'s grid is a target of its own unless the config asks for it
            stages = [s for s in STAGES if s != "louloudakis" or self.louloudakis.get("in_report")]
            return _unique(
                [
                    *(TABLE.format(table=t) for t in RECORD_TYPES),
                    *(f for s in stages for f in self.stage_targets(s)),
                ]
            )
        tables = {
            "rq1": [
                TABLE.format(table=t)
                for t in ("training", "predictions", "comparisons", "coreml_weights")
            ]
            + _report(*(f"{t}.md" for t in REPORT_TABLES[:2]), "figure2_training.png"),
            "rq2": _report(*(f"{t}.md" for t in REPORT_TABLES[2:])),
            "rq3": _report(*(f"{t}.md" for t in (*ROBUSTNESS_TABLES, "attack_cost")))
            if self.attacked
            else [],
            "ablation": _report(
                "ablation_init.md", "ablation_init_gaps.md", "ablation_init_curves.png"
            )
            if self.ablation_cells()
            else [],
            "matrix": _report(*(f"{t}.md" for t in MATRIX_REPORT)) if self.matrix_seeds else [],
            "localization": _report("localizations.md") if self.localization_seeds else [],
            "sources": _report("matrix_sources.md") if self.sources else [],
            "versions": _report("converter_versions.md") if self.versions.get("converters") else [],
            "louloudakis": _report("louloudakis_grid.md", "louloudakis_case.md")
            if self.pairs
            else [],
        }
        return tables[stage]

    # ---- what a job depends on (its params), by wildcards

    def dataset_of(self, wildcards: Any) -> str:
        """The published dataset of a cell's model (its floors and attack settings)."""
        return registry.model(wildcards.model).dataset

    def prepared_npz(self, wildcards: Any) -> str:
        return f"{self.prepared_dir}/{self.prepared_name(wildcards.model)}.npz"

    def prepare_params(self, wildcards: Any) -> dict[str, Any]:
        datasets = self.config["datasets"]
        base = self.base_dataset(wildcards)
        resized = _RESIZED.search(wildcards.dataset)
        size = {"image_size": int(resized.group(1))} if resized else {}
        return {"split_seed": datasets["split_seed"], **datasets[base], **size}

    def training_params(self, wildcards: Any) -> dict[str, Any]:
        """A cell's hyperparameters (its ``image_size`` is its prepared dataset's)."""
        hyper = dict(self.config["training"][wildcards.model])
        hyper.pop("image_size", None)
        return hyper

    def n_test(self, wildcards: Any) -> Any:
        return self.config["training"][wildcards.model]["subset"]["test"]

    def training_versions(self, wildcards: Any) -> dict[str, str]:
        return registry.pinned(registry.framework(wildcards.framework).packages, self.pins)

    def hop_settings(self, wildcards: Any) -> dict[str, Any]:
        """The settings of a hop: its converter's config section, its target's options and
        the pinned versions of the converter's packages."""
        return hop_settings(
            self.config["conversion"], self.pins, wildcards.framework, wildcards.route
        )

    def source_hop_settings(self, wildcards: Any) -> dict[str, Any]:
        fmt = self.source_formats[wildcards.source]
        return hop_settings(self.config["conversion"], self.pins, fmt, wildcards.route)

    def rq1_target(self, wildcards: Any) -> bool:
        """Whether a prediction target is one of RQ1's (timed), not only the matrix's (or
        Louloudakis's grid's, whose models RQ1 need not have)."""
        if wildcards.model not in self.models:
            return False
        return wildcards.target in self.targets_of(
            wildcards.framework, wildcards.seed, matrix=False
        )

    def evaluation_params(self, wildcards: Any) -> dict[str, Any]:
        """What a prediction job depends on: the timing settings (the matrix's for a target
        only the matrix asks for: its outputs matter, not its time), the evaluation set's
        size, its runtime's own settings (``evaluation.runtimes.<runtime>``) and whether its
        timings are taken in a quiet window (:mod:`convstudy.quiet`)."""
        evaluation = self.config["evaluation"]
        runtime = registry.target_runtime(wildcards.framework, wildcards.target).name
        settings = {key: evaluation[key] for key in ("batch_size", "warmup", "repeats")}
        if not self.rq1_target(wildcards):
            settings.update(self.matrix.get("evaluation", {}))
        return {
            **settings,
            "n_test": self.n_test(wildcards),
            "runtime": evaluation.get("runtimes", {}).get(runtime, {}),
            # RQ2's timings: nothing else of the run runs while they are taken
            "quiet": bool(evaluation["exclusive"]) and self.rq1_target(wildcards),
        }

    def prediction_device(self, wildcards: Any) -> str:
        return prediction_device(str(self.config["device"]), wildcards.framework, wildcards.target)

    def runtime_versions(self, wildcards: Any) -> dict[str, str]:
        runtime = registry.target_runtime(wildcards.framework, wildcards.target)
        return registry.pinned(runtime.packages, self.pins)

    def selection_predictions(self, wildcards: Any) -> list[str]:
        """The RQ1 prediction files of every target of the cell (they choose the inputs). On a
        Mac completing a Linux run (``mac_replay_only``, set by ``make coreml-mac``), the
        CoreML targets are left out: the Linux selection stands."""
        targets = self.rq1_targets_of(wildcards.framework, wildcards.seed)
        if self.config.get("mac_replay_only"):
            targets = [
                t
                for t in targets
                if registry.target_runtime(wildcards.framework, t).name != "coreml"
            ]
        return [f"{PREDICTION}.npz".format(**{**wildcards, "target": t}) for t in targets]

    def selection_n(self, wildcards: Any) -> int:
        return int(self.robustness["n"][registry.model(wildcards.model).kind])

    def selection_floor(self, wildcards: Any) -> float:
        return float(self.robustness["floor"][self.dataset_of(wildcards)])

    def attack_settings(self, wildcards: Any, attack: str | None = None) -> dict[str, Any]:
        """An attack's settings, a per-dataset value (e.g. FGSM's epsilon) resolved."""
        name = attack or wildcards.attack
        return attack_settings(self.robustness, name, self.dataset_of(wildcards))

    def boundary_settings(self, wildcards: Any) -> dict[str, Any]:
        return self.attack_settings(wildcards, "boundary")

    def attack_versions(self, wildcards: Any, attack: str | None = None) -> dict[str, str]:
        return registry.pinned(registry.attack(attack or wildcards.attack).packages, self.pins)

    def boundary_versions(self, wildcards: Any) -> dict[str, str]:
        return self.attack_versions(wildcards, "boundary")

    def attack_embedding(self, wildcards: Any, embedding: str) -> list[str]:
        """The run's resolved word embedding, for the attacks that read one."""
        return [embedding] if registry.attack(wildcards.attack).embedding else []

    def embedding_settings(self) -> dict[str, Any]:
        """The config values the embedding's resolution depends on."""
        keys = ("embedding", "embedding_sha256", "counter_fitted", "embedding_fallback")
        return {key: self.robustness["genetic"].get(key) for key in keys}

    def localization_settings(self) -> dict[str, Any]:
        return {key: self.localization.get(key) for key in ("tolerance", "scan", "samples")}

    def version_baseline(self, wildcards: Any) -> str:
        """What a release's outputs are compared with: the original's or the pinned hop's."""
        target = registry.ORIGINAL if wildcards.against == "original" else wildcards.route
        return f"{PREDICTION}.npz".format(**{**wildcards, "target": target})

    def version_evaluation(self, wildcards: Any) -> dict[str, Any]:
        """A release's prediction: the target's evaluation with the matrix's timing."""
        timing = self.matrix.get("evaluation", {"warmup": 0, "repeats": 1})
        return {**self.evaluation_params(wildcards), **timing}

    def source_evaluation(self, wildcards: Any) -> dict[str, Any]:
        return {
            "batch_size": self.config["evaluation"]["batch_size"],
            **self.matrix.get("evaluation", {"warmup": 0, "repeats": 1}),
            "n_test": None,
            "runtime": {},
        }

    # ---- inputs that follow a route

    def route_input(self, wildcards: Any, first: str, converted: str) -> str:
        """The model folder a hop converts: ``first`` (the trained or brought model) for a
        route's first hop, else the ``converted`` folder of the route's previous hop."""
        parent = registry.parent_route(wildcards.route)
        if parent is None:
            return first.format(**wildcards)
        return converted.format(**{**wildcards, "route": parent})

    def target_input(self, wildcards: Any, first: str, converted: str) -> str:
        """The model folder a prediction runs: ``first`` for the original, else the target's."""
        if wildcards.target == registry.ORIGINAL:
            return first.format(**wildcards)
        return converted.format(**{**wildcards, "route": wildcards.target})

    def along_route(self, wildcards: Any, pattern: str) -> list[str]:
        """``pattern`` for every hop of the route ``wildcards.route``, in order."""
        return [
            pattern.format(**{**wildcards, "route": hop})
            for hop in registry.route_prefixes(wildcards.route)
        ]


#: Env files, relative to the rule files in workflow/rules/.
ENV_PATH = "../../envs/{}.yaml"


def convert_env(wildcards: Any) -> str:
    """The conda env of a ``convert`` job: its hop's converter's."""
    return ENV_PATH.format(registry.hop_env(wildcards.framework, wildcards.route))


def predict_env(wildcards: Any) -> str:
    """The conda env of a ``predict`` job: its target's runtime's."""
    return ENV_PATH.format(registry.target_runtime(wildcards.framework, wildcards.target).env)


def hop_settings(
    conversion: Mapping[str, Any], pins: Mapping[str, str], source_format: str, route: str
) -> dict[str, Any]:
    """The settings of the last hop of ``route`` from ``source_format``: its converter's
    config section, the options of its target format, and the pinned versions of the
    converter's packages (or the reason no converter performs it)."""
    source, target = registry.last_hop(source_format, route)
    missing = registry.missing_converter(source, target)
    if missing:
        return {"target": target, "missing_converter": missing, "versions": {}}
    entry = registry.converter(source, target)
    return {
        **conversion.get(entry.settings, {}),
        **registry.fmt(target).options,
        "target": target,
        "versions": registry.pinned(entry.packages, pins),
    }


def attack_settings(robustness: Mapping[str, Any], attack: str, dataset: str) -> dict[str, Any]:
    """An attack's settings from the config's ``robustness`` section, a per-dataset value
    (e.g. FGSM's epsilon) resolved for ``dataset``."""
    settings = robustness[registry.attack(attack).settings]
    return {k: v[dataset] if isinstance(v, dict) else v for k, v in settings.items()}


def prediction_device(device: str, framework: str, target: str) -> str:
    """The config's ``device`` for a target whose runtime can use it, else "cpu" (so that
    changing ``device`` reruns only the jobs it reaches)."""
    return device if registry.target_runtime(framework, target).gpu else "cpu"
