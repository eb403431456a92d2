import re
import sys
from pathlib import Path

# The workflow imports the package from this checkout, with or without `pip install -e .`
# (each script does the same for its job).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from convstudy import config as cs_config
from convstudy import envs as cs_envs
from convstudy import registry
from convstudy import workflow as cs_workflow
from convstudy.provenance import read_json
from convstudy.records import RECORD_TYPES
from convstudy.errors import ConvstudyError
from convstudy.jobs.import_source import source_format
from convstudy.attacks.embedding import RESOLVED_FILE as RESOLVED_EMBEDDING


def _validated(config):
    try:
        cs_config.validate(
            config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
        )
        return cs_config.local_data_dir(config)
    except ConvstudyError as error:
        sys.exit(f"convstudy: {error}")


LOCAL_DATA_DIR = _validated(config)
IMPORTED = cs_config.imported_models(config)
PINS_FILE = config.get(
    "pins_file", str(Path(workflow.basedir) / "envs/requirements.txt")
)
PINS = cs_config.read_pins(PINS_FILE)
MODELS = config["models"]
FRAMEWORKS = config["frameworks"]
SEEDS = [str(seed) for seed in config["seeds"]]
FORMATS = config["formats"]
DATASETS = sorted({registry.model(model).dataset for model in MODELS})
PREPARED = config["datasets"]["prepared_dir"]
# Every format of the config is reached by one route per framework; every route's
# prefixes are hops of their own (kept on disk, each the next hop's input).
ROUTES = {
    framework: [registry.route_name(registry.route(framework, f)) for f in FORMATS]
    for framework in FRAMEWORKS
}
# ---- conversion matrix (Part 2): every path of `matrix.paths` is a route too; its hops
# are the same `convert` jobs, and every hop's model is predicted and compared.
MATRIX = config.get("matrix", {})
MATRIX_SEEDS = [str(seed) for seed in MATRIX.get("seeds", [])]
# the models converted along the matrix's paths (default: every model of the study)
MATRIX_MODELS = [m for m in MATRIX.get("models", MODELS) if m in MODELS]
MATRIX_ROUTES = {
    framework: [
        registry.route_name(registry.matrix_route(framework, chain))
        for chain in MATRIX.get("paths", {}).get(framework, [])
    ]
    for framework in FRAMEWORKS
}
# models the user brings as matrix sources (`matrix.sources`), by name: their format (from
# the file) and their paths (`matrix.source_paths` of that format)
SOURCES = {entry["name"]: entry for entry in MATRIX.get("sources") or []}


def _source_formats():
    try:
        return {name: source_format(entry["path"]) for name, entry in SOURCES.items()}
    except ConvstudyError as error:
        sys.exit(f"convstudy: {error}")


SOURCE_FORMATS = _source_formats()
SOURCE_ROUTES = {
    name: [
        registry.route_name(registry.matrix_route(fmt, chain))
        for chain in MATRIX.get("source_paths", {}).get(fmt, [])
    ]
    for name, fmt in SOURCE_FORMATS.items()
}
HOPS = sorted(
    {
        hop
        for routes in (
            *ROUTES.values(),
            *MATRIX_ROUTES.values(),
            *SOURCE_ROUTES.values(),
        )
        for r in routes
        for hop in registry.route_prefixes(r)
    }
)
COREML_ROUTES = sorted(
    {
        r
        for routes in ROUTES.values()
        for r in routes
        if r.split("+")[-1].startswith("coreml")
    }
)
# RQ3: the attacks of each model (by its kind, among the configured ones) and the seeds
# attacked.
ROBUSTNESS = config["robustness"]
ROBUST_SEEDS = [str(seed) for seed in ROBUSTNESS["seeds"]]
ATTACKS_OF = {
    model: [a for a in registry.attacks_for(model) if a in ROBUSTNESS["attacks"]]
    for model in MODELS
}
# Written into every gathered row; only gather and report rerun when it changes.
STUDY_CONFIG_HASH = cs_config.study_hash(config)


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) or "none"


wildcard_constraints:
    model=_alternatives(MODELS),
    framework=_alternatives(FRAMEWORKS),
    seed=r"\d+",
    route=_alternatives(HOPS),
    target=_alternatives([registry.ORIGINAL, *HOPS]),
    dataset=_alternatives(DATASETS),
    table=_alternatives(RECORD_TYPES),
    attack=_alternatives(registry.ATTACKS),
    source=_alternatives(SOURCES),


# ---- paths

CELL = "{model}/{framework}/seed{seed}"
TRAINED = f"results/models/{CELL}"
CONVERTED = f"results/converted/{CELL}/{{route}}"
PREDICTION = f"results/predictions/{CELL}/{{target}}"
COMPARISON = f"results/metrics/{CELL}/{{route}}.json"
WEIGHTS = f"results/weights/{CELL}/{{route}}.json"
ROBUST = f"results/robustness/{CELL}"
SELECTION = f"{ROBUST}/selection.json"
ADVERSARIAL = f"{ROBUST}/{{attack}}/adversarial.npz"
ATTACKED = f"{ROBUST}/{{attack}}/attack.json"
REPLAY = f"{ROBUST}/{{attack}}/replay/{{target}}.npz"
ROBUSTNESS_RECORD = f"{ROBUST}/{{attack}}/{{route}}.json"
MATRIX_PATH = f"results/matrix/{CELL}/{{route}}.json"
# the word embedding of the run's text attacks, resolved once (rule embedding)
EMBEDDING = f"{PREPARED}/{RESOLVED_EMBEDDING}"


def rule_resources(rule):
    """The rule's memory and runtime (minutes) from the config (cluster profiles use them)."""
    return config["resources"].get(rule, config["resources"]["default"])


# ---- parameters: only the values a job depends on, so a change reruns just those jobs


def dataset_of(wildcards):
    return registry.model(wildcards.model).dataset


def prepare_params(wildcards):
    settings = dict(config["datasets"][wildcards.dataset])
    return {"split_seed": config["datasets"]["split_seed"], **settings}


def training_params(wildcards):
    return dict(config["training"][wildcards.model])


def imported_checkpoint(wildcards):
    """The checkpoint a cell imports instead of training (config `imported_models`), or
    nothing."""
    cell = f"{wildcards.model}/{wildcards.framework}/seed{wildcards.seed}"
    return [IMPORTED[cell]] if cell in IMPORTED else []


def training_versions(wildcards):
    return cs_workflow.framework_versions(PINS, wildcards.framework)


def hop_settings(wildcards):
    """The converter's settings, its target's options and its pinned versions."""
    return cs_workflow.hop_settings(
        config["conversion"], PINS, wildcards.framework, wildcards.route
    )


def evaluation_params(wildcards):
    """What a prediction job depends on: the timing settings, the evaluation set size and
    its runtime's own settings (``evaluation.runtimes.<runtime>``), nothing else. A target
    only the matrix asks for takes the matrix's timing settings (it is evaluated for its
    outputs, not timed for RQ2)."""
    evaluation = config["evaluation"]
    runtime = registry.target_runtime(wildcards.framework, wildcards.target).name
    settings = {key: evaluation[key] for key in ("batch_size", "warmup", "repeats")}
    if not rq1_target(wildcards):
        settings.update(MATRIX.get("evaluation", {}))
    return {
        **settings,
        "n_test": config["training"][wildcards.model]["subset"]["test"],
        "runtime": evaluation.get("runtimes", {}).get(runtime, {}),
    }


def rq1_target(wildcards):
    """Whether a prediction target is one of RQ1's (timed), not only the matrix's."""
    return wildcards.target in targets_of(
        wildcards.framework, wildcards.seed, matrix=False
    )


def predict_threads(wildcards):
    """A prediction job times what it runs, so by default it holds every core Snakemake
    was given (nothing else runs beside it); its libraries use ``threads.predict``. A job
    whose runtime does not exist here (CoreML off macOS) times nothing and holds one."""
    runtime = registry.target_runtime(wildcards.framework, wildcards.target)
    timed = registry.runs_here(runtime) and rq1_target(
        wildcards
    )  # matrix-only: not timed
    if config["evaluation"]["exclusive"] and timed:
        return max(workflow.cores, config["threads"]["predict"])
    return config["threads"]["predict"]


def prediction_device(wildcards):
    return cs_workflow.prediction_device(
        config["device"], wildcards.framework, wildcards.target
    )


def runtime_versions(wildcards):
    return cs_workflow.runtime_versions(PINS, wildcards.framework, wildcards.target)


# ---- inputs


def prepared_npz(wildcards):
    return f"{PREPARED}/{dataset_of(wildcards)}.npz"


def prepare_inputs(wildcards):
    """Nothing when a local folder is given (it is read and verified in place)."""
    if LOCAL_DATA_DIR:
        return []
    return [f"{config['datasets']['raw_dir']}/{wildcards.dataset}/.fetched"]


def _hop_input(wildcards, first, converted):
    """The model folder a hop converts: ``first`` (the trained or brought model) for a
    route's first hop, else the ``converted`` folder of the route's previous hop."""
    parent = registry.parent_route(wildcards.route)
    if parent is None:
        return first.format(**wildcards)
    return converted.format(**{**wildcards, "route": parent})


def _prediction_input(wildcards, first, converted):
    """The model folder a prediction runs: ``first`` for the original, else the target's."""
    if wildcards.target == registry.ORIGINAL:
        return first.format(**wildcards)
    return converted.format(**{**wildcards, "route": wildcards.target})


def hop_source(wildcards):
    """The model folder a hop converts: the trained model, or the route's previous hop."""
    return _hop_input(wildcards, TRAINED, CONVERTED)


def prediction_source(wildcards):
    return _prediction_input(wildcards, TRAINED, CONVERTED)


def _cells(pattern, **extra):
    return expand(pattern, model=MODELS, framework=FRAMEWORKS, seed=ALL_SEEDS, **extra)


ALL_SEEDS = sorted(set(SEEDS) | set(MATRIX_SEEDS), key=int)


def _per_route(pattern, wildcard, routes_of):
    """``pattern`` for every cell, with ``wildcard`` running over
    ``routes_of(framework, seed)``."""
    return [
        path
        for model in MODELS
        for framework in FRAMEWORKS
        for seed in ALL_SEEDS
        for path in expand(
            pattern,
            model=model,
            framework=framework,
            seed=seed,
            **{wildcard: routes_of(framework, seed, model)},
        )
    ]


def _unique_prefixes(routes):
    return list(dict.fromkeys(h for r in routes for h in registry.route_prefixes(r)))


def rq1_routes_of(framework, seed, model=None):
    return ROUTES[framework] if seed in SEEDS else []


def matrix_routes_of(framework, seed, model=None):
    """The matrix paths of a cell (none for a model outside ``matrix.models``)."""
    if seed not in MATRIX_SEEDS or (model is not None and model not in MATRIX_MODELS):
        return []
    return MATRIX_ROUTES[framework]


def hops_of(framework, seed, model=None):
    """Every hop of the cell's routes (each route's prefixes), once each, in order."""
    return _unique_prefixes(
        [*rq1_routes_of(framework, seed), *matrix_routes_of(framework, seed, model)]
    )


def coreml_routes_of(framework, seed, model=None):
    return [r for r in rq1_routes_of(framework, seed) if r in COREML_ROUTES]


def compared_routes_of(framework, seed):
    """RQ1's routes, and every hop of every matrix path (which hop changed outputs)."""
    return list(
        dict.fromkeys(
            [
                *rq1_routes_of(framework, seed),
                *_unique_prefixes(matrix_routes_of(framework, seed)),
            ]
        )
    )


def targets_of(framework, seed, matrix=True):
    """The cell's prediction targets: the original and every compared route."""
    if seed not in SEEDS and not (matrix and seed in MATRIX_SEEDS):
        return []
    routes = (
        compared_routes_of(framework, seed)
        if matrix
        else rq1_routes_of(framework, seed)
    )
    return [registry.ORIGINAL, *routes]


def rq1_targets_of(framework, seed, model=None):
    """RQ1's prediction targets (the matrix's hops are in its own table)."""
    return targets_of(framework, seed, matrix=False)


def matrix_hops(wildcards, pattern):
    """``pattern`` for every hop of the matrix path ``wildcards.route``, in order."""
    return [
        pattern.format(**{**wildcards, "route": hop})
        for hop in registry.route_prefixes(wildcards.route)
    ]


def matrix_conversions(wildcards):
    return matrix_hops(wildcards, CONVERTED)


def matrix_comparisons(wildcards):
    return matrix_hops(wildcards, COMPARISON)


def selection_predictions(wildcards):
    """The RQ1 prediction files of every target of the cell (they choose the inputs). On a
    Mac completing a Linux run (`mac_replay_only`, set by `make coreml-mac`), the CoreML
    targets are left out: the Linux selection stands, only the replays are added."""
    targets = rq1_targets_of(wildcards.framework, wildcards.seed)
    if config.get("mac_replay_only"):
        targets = [
            t
            for t in targets
            if registry.target_runtime(wildcards.framework, t).name != "coreml"
        ]
    return expand(f"{PREDICTION}.npz", **wildcards, target=targets)


def attack_settings(wildcards, attack=None):
    """The attack's settings; a per-dataset value (e.g. FGSM's epsilon) resolved."""
    return cs_workflow.attack_settings(
        ROBUSTNESS, attack or wildcards.attack, dataset_of(wildcards)
    )


def attack_embedding(wildcards):
    """The run's resolved word embedding, for the attacks that read one."""
    return EMBEDDING if registry.attack(wildcards.attack).embedding else []


def embedding_settings(wildcards):
    """The config values the embedding's resolution depends on."""
    keys = ("embedding", "embedding_sha256", "counter_fitted", "embedding_fallback")
    return {key: ROBUSTNESS["genetic"].get(key) for key in keys}


def attack_versions(wildcards):
    return registry.pinned(registry.attack(wildcards.attack).packages, PINS)


def _robust_cells(pattern, wildcard=None, values_of=None):
    """``pattern`` for every attacked cell and attack (and ``wildcard`` over
    ``values_of(framework)``)."""
    return [
        path
        for model in MODELS
        for framework in FRAMEWORKS
        for seed in ROBUST_SEEDS
        for attack in ATTACKS_OF[model]
        for path in expand(
            pattern,
            model=model,
            framework=framework,
            seed=seed,
            attack=attack,
            **({wildcard: values_of(framework)} if wildcard else {}),
        )
    ]


DIRECT = f"{ROBUST}/boundary-direct/{{route}}/attack.json"


def direct_attacks():
    """The Boundary attacks run on converted models directly (``robustness.direct``)."""
    return [
        path
        for model in MODELS
        if "boundary" in ATTACKS_OF[model]
        for framework in FRAMEWORKS
        for path in expand(
            DIRECT,
            model=model,
            framework=framework,
            seed=ROBUST_SEEDS,
            route=[r for r in ROUTES[framework] if r in ROBUSTNESS["direct"]],
        )
    ]


def gather_records(wildcards):
    """The records of the table being gathered, in a fixed order."""
    table = wildcards.table
    if table == "attacks":
        return _robust_cells(ATTACKED) + direct_attacks()
    if table == "robustness":
        return _robust_cells(ROBUSTNESS_RECORD, "route", lambda fw: ROUTES[fw])
    if table == "training":
        return _cells(TRAINED)
    if table == "conversions":
        return _per_route(CONVERTED, "route", hops_of)
    if table == "coreml_weights":
        return _per_route(WEIGHTS, "route", coreml_routes_of)
    if table == "predictions":
        return _per_route(f"{PREDICTION}.json", "target", rq1_targets_of)
    if table == "matrix":
        return _per_route(MATRIX_PATH, "route", matrix_routes_of)
    if table == "localizations":
        return localization_records()
    return _per_route(COMPARISON, "route", rq1_routes_of)


LOCALIZATION_CFG = config.get("localization") or {}
LOCALIZATION_SEEDS = [str(seed) for seed in LOCALIZATION_CFG.get("seeds", [])]
LOCALIZATION = f"results/localization/{CELL}/{{route}}"
LOCALIZATION_PAIRS = "results/localization/pairs.json"


def localized_routes_of(framework, seed, model=None):
    """RQ1's routes and the matrix's paths of a localized seed (each once)."""
    if seed not in LOCALIZATION_SEEDS:
        return []
    return list(
        dict.fromkeys(
            [*rq1_routes_of(framework, seed), *matrix_routes_of(framework, seed, model)]
        )
    )


def localization_candidates():
    """The comparison of every RQ1 route and matrix path of the localized seeds."""
    return _per_route(COMPARISON, "route", localized_routes_of)


def localization_records():
    """The localization of every faulty pair (known once the checkpoint has run)."""
    pairs = read_json(checkpoints.localization_pairs.get().output[0])["pairs"]
    return [LOCALIZATION.format(**pair) for pair in pairs]


REPORT_TABLES = ["table1_accuracy", "table2_errors", "table3_time", "table4_size"]
REPORT_FIGURES = ["figure2_training"]
ROBUSTNESS_TABLES = [
    "table5_robustness_cnn",
    "table6_robustness_rnn",
    "table7_indicator",
]
ROBUSTNESS_FIGURES = ["figure3_attack_cnn", "figure4_attack_rnn"]


def ablation_cells(pattern):
    """The cells of the matched-initialisation ablation, as ``pattern`` paths."""
    matched = config["ablation"]["matched_init"]
    seeds = matched["seeds"] if matched["seeds"] is not None else SEEDS
    return expand(pattern, model=matched["models"], seed=seeds)


MATRIX_REPORT = ["matrix_paths", "matrix_hops"]


def final_targets():
    ablation = (
        ["results/report/ablation_init.md"]
        if config["ablation"]["matched_init"]["models"]
        else []
    )
    return (
        expand("results/tables/{table}.csv", table=RECORD_TYPES)
        + expand("results/report/{table}.md", table=REPORT_TABLES)
        + expand("results/report/{figure}.png", figure=REPORT_FIGURES)
        + ablation
        + (
            expand(
                "results/report/{table}.md", table=[*ROBUSTNESS_TABLES, "attack_cost"]
            )
            if any(ATTACKS_OF.values()) and ROBUST_SEEDS
            else []
        )
        + (
            expand("results/report/{table}.md", table=MATRIX_REPORT)
            if MATRIX_SEEDS
            else []
        )
        + (["results/report/localizations.md"] if LOCALIZATION_SEEDS else [])
        + (["results/report/matrix_sources.md"] if SOURCES else [])
        + (
            ["results/report/converter_versions.md"]
            if (config.get("versions") or {}).get("converters")
            else []
        )
    )


# ---- converter releases side by side (workflow/rules/versions.smk)

VERSIONS = config.get("versions") or {}
VERSION_SEEDS = [str(s) for s in VERSIONS.get("seeds", []) if str(s) in SEEDS]
VERSION_ENV = ".versions/{package}/{version}"
VERSION_ROOT = "results/versions/{package}/{version}"
VERSIONED = f"{VERSION_ROOT}/converted/{CELL}/{{route}}"
VERSIONED_PREDICTION = f"{VERSION_ROOT}/predictions/{CELL}/{{target}}"
VERSIONED_COMPARISON = f"{VERSION_ROOT}/metrics/{CELL}/{{route}}-vs-{{against}}.json"


wildcard_constraints:
    package=_alternatives(VERSIONS.get("converters", {})),
    version=r"[0-9][0-9A-Za-z.+!]*",
    against="original|pinned",


def version_entries():
    """One entry per (package, release, cell, hop): the files the report reads."""
    entries = []
    for package, releases in (VERSIONS.get("converters") or {}).items():
        for version in releases:
            for model in MODELS:
                for framework in FRAMEWORKS:
                    for seed in VERSION_SEEDS:
                        cell = dict(
                            package=package,
                            version=version,
                            model=model,
                            framework=framework,
                            seed=seed,
                        )
                        for route in registry.hops_using(
                            framework, ROUTES[framework], package
                        ):
                            at = {**cell, "route": route}
                            entries.append(
                                {
                                    "package": package,
                                    "version": version,
                                    "conversion": VERSIONED.format(**at),
                                    "vs_original": VERSIONED_COMPARISON.format(
                                        **at, against="original"
                                    ),
                                    "vs_pinned": VERSIONED_COMPARISON.format(
                                        **at, against="pinned"
                                    ),
                                    "pinned_conversion": CONVERTED.format(**at),
                                    "pinned_vs_original": COMPARISON.format(**at),
                                }
                            )
    return entries


def version_baseline(wildcards):
    """What a release's outputs are compared with: the original's or the pinned hop's."""
    target = registry.ORIGINAL if wildcards.against == "original" else wildcards.route
    return f"{PREDICTION.format(**{**wildcards, 'target': target})}.npz"


# ---- models the user brings as matrix sources (workflow/rules/sources.smk)

SOURCE = "results/sources/{source}"
SOURCE_MODEL = f"{SOURCE}/original"
SOURCE_INPUTS = f"{SOURCE}/inputs.npz"
SOURCE_CONVERTED = f"{SOURCE}/converted/{{route}}"
SOURCE_PREDICTION = f"{SOURCE}/predictions/{{target}}"
SOURCE_COMPARISON = f"{SOURCE}/metrics/{{route}}.json"
SOURCE_PATH = f"{SOURCE}/paths/{{route}}.json"


def source_hop_input(wildcards):
    """The folder a source's hop converts: the imported model or the previous hop."""
    return _hop_input(wildcards, SOURCE_MODEL, SOURCE_CONVERTED)


def source_hop_settings(wildcards):
    return cs_workflow.hop_settings(
        config["conversion"], PINS, SOURCE_FORMATS[wildcards.source], wildcards.route
    )


def source_prediction_input(wildcards):
    return _prediction_input(wildcards, SOURCE_MODEL, SOURCE_CONVERTED)


def source_evaluation(wildcards):
    return {
        "batch_size": config["evaluation"]["batch_size"],
        **MATRIX.get("evaluation", {"warmup": 0, "repeats": 1}),
        "n_test": None,
        "runtime": {},
    }


def source_paths_of(pattern):
    """``pattern`` for every path of every brought model."""
    return [
        pattern.format(source=name, route=route)
        for name, routes in SOURCE_ROUTES.items()
        for route in routes
    ]


def source_hops(wildcards, pattern):
    return [
        pattern.format(source=wildcards.source, route=hop)
        for hop in registry.route_prefixes(wildcards.route)
    ]
