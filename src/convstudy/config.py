"""Configuration: validation against the JSON schema and the registry, and the pins."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import registry
from convstudy.errors import ConfigError
from convstudy.models import published


def validate(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the schema and the registry; raise :class:`ConfigError`
    naming the key.

    Only the first error (the one on the shallowest path) is reported: one line, one key.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(dict(config)), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    if errors:
        error = errors[0]
        path = [str(part) for part in error.absolute_path]
        message = error.message
        if error.validator == "additionalProperties":
            unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            path.append(unknown[0])
            message = "unknown key (see config/README.md for the valid ones)"
        elif error.validator == "required":
            path.append(next(k for k in error.validator_value if k not in error.instance))
            message = "missing (required)"
        raise ConfigError(f"invalid config key '{'.'.join(path) or '<top level>'}': {message}")
    _check_names(config)


def _check_names(config: Mapping[str, Any]) -> None:
    """Every model, framework and format the config names is in the registry, and every
    format is reachable from every framework."""
    for key, known in (
        ("models", registry.MODELS),
        ("frameworks", registry.FRAMEWORKS),
        ("formats", registry.FORMATS),
    ):
        for i, name in enumerate(config[key]):
            if name not in known:
                raise ConfigError(
                    f"invalid config key '{key}.{i}': {name!r} is not one of {', '.join(known)}"
                )
    for model, section in config["training"].items():
        if model not in registry.MODELS:
            raise ConfigError(f"invalid config key 'training.{model}': unknown model")
        if section.get("weights") == published.IMAGENET and model not in published.MODELS:
            raise ConfigError(
                f"invalid config key 'training.{model}.weights': {model} has no published "
                f"ImageNet weights (only {', '.join(published.MODELS)})"
            )
    for i, name in enumerate(config["robustness"]["attacks"]):
        if name not in registry.ATTACKS:
            raise ConfigError(
                f"invalid config key 'robustness.attacks.{i}': {name!r} is not one of "
                f"{', '.join(registry.ATTACKS)}"
            )
    for i, route in enumerate(config["robustness"]["direct"]):
        if route.split(registry.ROUTE_SEP)[-1] not in config["formats"]:
            raise ConfigError(
                f"invalid config key 'robustness.direct.{i}': {route!r} does not end in a "
                "format of 'formats'"
            )
    for i, model in enumerate(config["ablation"]["matched_init"]["models"]):
        if model not in config["training"]:
            raise ConfigError(
                f"invalid config key 'ablation.matched_init.models.{i}': {model!r} has no "
                "'training' entry"
            )
    for model in config["models"]:
        if model not in config["training"]:
            raise ConfigError(
                f"invalid config key 'training.{model}': missing (model '{model}' is in 'models')"
            )
    imported_models(config)
    _check_matrix(config.get("matrix") or {})
    _check_louloudakis(config)
    for i, name in enumerate(config["formats"]):
        for framework in config["frameworks"]:
            try:
                registry.route(framework, name)
            except KeyError as error:
                raise ConfigError(
                    f"invalid config key 'formats.{i}': {name!r} cannot be reached from "
                    f"{framework} ({error.args[0]})"
                ) from None


def _check_chain(key: str, source: str, chain: Any) -> None:
    """A path of the matrix: known formats, every hop performed by a converter (or a hop
    the registry knows no converter for, recorded as an error)."""
    for j, name in enumerate(chain):
        if name not in registry.FORMATS:
            raise ConfigError(
                f"invalid config key '{key}.{j}': {name!r} is not one of {', '.join(registry.FORMATS)}"
            )
    try:
        registry.matrix_route(source, chain)
    except KeyError as error:
        raise ConfigError(f"invalid config key '{key}': {error.args[0]}") from None


def _check_matrix(matrix: Mapping[str, Any]) -> None:
    """Every path of ``matrix.paths`` (per framework) and ``matrix.source_paths`` (per
    format of a brought model) is a chain of known formats with converters."""
    for framework, chains in (matrix.get("paths") or {}).items():
        if framework not in registry.FRAMEWORKS:
            raise ConfigError(
                f"invalid config key 'matrix.paths.{framework}': not one of "
                f"{', '.join(registry.FRAMEWORKS)}"
            )
        for i, chain in enumerate(chains):
            _check_chain(f"matrix.paths.{framework}.{i}", framework, chain)
    for fmt, chains in (matrix.get("source_paths") or {}).items():
        if fmt not in registry.FORMATS:
            raise ConfigError(
                f"invalid config key 'matrix.source_paths.{fmt}': not one of "
                f"{', '.join(registry.FORMATS)}"
            )
        for i, chain in enumerate(chains):
            _check_chain(f"matrix.source_paths.{fmt}.{i}", fmt, chain)


def _check_louloudakis(config: Mapping[str, Any]) -> None:
    """Louloudakis et al.'s grid: known models with a training section, sources from a
    framework through known formats, every pair's path a chain of converters."""
    grid = config.get("louloudakis") or {}
    for i, model in enumerate(grid.get("models", [])):
        if model not in registry.MODELS:
            raise ConfigError(
                f"invalid config key 'louloudakis.models.{i}': {model!r} is not one of "
                f"{', '.join(registry.MODELS)}"
            )
        if model not in config["training"]:
            raise ConfigError(
                f"invalid config key 'training.{model}': missing (in louloudakis.models)"
            )
    sources = grid.get("sources", {})
    for name, (framework, *base) in sources.items():
        if framework not in registry.FRAMEWORKS:
            raise ConfigError(
                f"invalid config key 'louloudakis.sources.{name}.0': {framework!r} is not one of "
                f"{', '.join(registry.FRAMEWORKS)}"
            )
        if base:
            _check_chain(f"louloudakis.sources.{name}", framework, base)
    case = grid.get("case") or {}
    for key in ("source", "target"):
        if key in case and case[key] not in sources:
            raise ConfigError(
                f"invalid config key 'louloudakis.case.{key}': {case[key]!r} is not a source"
            )
    for source, targets in grid.get("pairs", {}).items():
        if source not in sources:
            raise ConfigError(
                f"invalid config key 'louloudakis.pairs.{source}': not one of the sources"
            )
        framework, *base = sources[source]
        for target, chains in targets.items():
            for i, chain in enumerate(chains):
                _check_chain(f"louloudakis.pairs.{source}.{target}.{i}", framework, [*base, *chain])


def imported_models(config: Mapping[str, Any]) -> dict[str, str]:
    """The config's ``imported_models``: cell (``model/framework/seed<seed>``) -> the
    checkpoint's path. Raises ConfigError for a model or framework the config does not run,
    or a cell given twice."""
    cells: dict[str, str] = {}
    for i, entry in enumerate(config.get("imported_models") or []):
        for key, known in (("model", config["models"]), ("framework", config["frameworks"])):
            if entry[key] not in known:
                raise ConfigError(
                    f"invalid config key 'imported_models.{i}.{key}': {entry[key]!r} is not "
                    f"in '{key}s' ({', '.join(known)})"
                )
        if not Path(entry["path"]).is_file():
            raise ConfigError(
                f"invalid config key 'imported_models.{i}.path': {entry['path']}: no such file"
            )
        cell = f"{entry['model']}/{entry['framework']}/seed{entry['seed']}"
        if cell in cells:
            raise ConfigError(f"invalid config key 'imported_models.{i}': {cell} is given twice")
        cells[cell] = str(entry["path"])
    return cells


def local_data_dir(config: Mapping[str, Any]) -> str | None:
    """The local dataset folder: `datasets.local_dir`, else $CONVSTUDY_DATA_DIR, else None."""
    from convstudy.data.sources import LOCAL_DIR_ENV, resolve_local_dir

    path = resolve_local_dir(config["datasets"]["local_dir"])
    if path is not None and not path.is_dir():
        source = "datasets.local_dir" if config["datasets"]["local_dir"] else f"${LOCAL_DIR_ENV}"
        raise ConfigError(f"invalid config key '{source}': {str(path)!r} is not a folder")
    return str(path.resolve()) if path else None


#: The companion of a requirements file: pins installed with ``pip install --no-deps``
#: (their metadata pins versions that conflict with the study's, e.g. onnx2tf's).
NODEPS_SUFFIX = "-nodeps"


def read_pins(path: str | Path) -> dict[str, str]:
    """Exact pins (``name==version``) of a requirements file and of its ``-nodeps``
    companion when there is one (``requirements-nodeps.txt`` beside ``requirements.txt``),
    by normalised name.

    Lines are parsed as PEP 508 requirements (``packaging``); comments, blank lines, pip
    options and requirements that are not one exact ``==`` pin are skipped.
    """
    path = Path(path)
    companion = path.with_name(f"{path.stem}{NODEPS_SUFFIX}{path.suffix}")
    pins = _read_pin_file(companion) if companion.exists() else {}
    return {**pins, **_read_pin_file(path)}


def _read_pin_file(path: Path) -> dict[str, str]:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise ConfigError(f"{path}: not a requirement line: {line!r} ({error})") from None
        specs = list(requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            pins[str(canonicalize_name(requirement.name))] = specs[0].version
    return pins


def study_hash(config: Mapping[str, Any]) -> str:
    """The hash of the whole configuration, as carried by every gathered row. Paths that
    do not change results are left out: the pins file's (the versions it pins are on every
    row themselves, and a changed pin reruns only the jobs that depend on it) and the local
    dataset copy's (its files are verified against their pinned sha256)."""
    from convstudy.provenance import config_hash

    kept = {key: value for key, value in config.items() if key != "pins_file"}
    datasets = {k: v for k, v in kept["datasets"].items() if k != "local_dir"}
    return config_hash({**kept, "datasets": datasets})
