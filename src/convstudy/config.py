"""Configuration: validation against the JSON schema, and the study's fixed facts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.errors import ConfigError

#: Which dataset each model is trained and evaluated on (fixed by the study design).
DATASET_OF: dict[str, str] = {
    "lenet5": "mnist",
    "resnet18": "cifar10",
    "vgg16": "cifar10",
    "lstm": "imdb",
    "gru": "imdb",
}

#: Number of classes of each dataset.
NUM_CLASSES: dict[str, int] = {"mnist": 10, "cifar10": 10, "imdb": 2}


def validate(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the schema; raise :class:`ConfigError` naming the key.

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
    for model in config["models"]:
        if model not in config["training"]:
            raise ConfigError(
                f"invalid config key 'training.{model}': missing (model '{model}' is in 'models')"
            )


def local_data_dir(config: Mapping[str, Any]) -> str | None:
    """The local dataset folder: `datasets.local_dir`, else $CONVSTUDY_DATA_DIR, else None."""
    from convstudy.data.sources import LOCAL_DIR_ENV, resolve_local_dir

    path = resolve_local_dir(config["datasets"]["local_dir"])
    if path is not None and not path.is_dir():
        source = "datasets.local_dir" if config["datasets"]["local_dir"] else f"${LOCAL_DIR_ENV}"
        raise ConfigError(f"invalid config key '{source}': {str(path)!r} is not a folder")
    return str(path.resolve()) if path else None


_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def read_pins(path: str | Path) -> dict[str, str]:
    """Exact pins (``name==version``) of a requirements file, by lower-case name."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def study_hash(config: Mapping[str, Any]) -> str:
    """The hash of the whole configuration, as carried by every gathered row."""
    from convstudy.provenance import config_hash

    return config_hash(dict(config))
