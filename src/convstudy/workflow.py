"""What the Snakemake rules ask the package: job envs and job parameters, from the registry.

``workflow/rules/common.smk`` passes these functions to ``conda:`` and ``params:``; they
are package functions (not defined in the Snakefile) so that the env check of
:mod:`convstudy.envs` can call the same function a rule's ``conda:`` calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convstudy import registry

#: Env files, relative to the rule files in workflow/rules/.
ENV_PATH = "../../envs/{}.yaml"


def convert_env(wildcards: Any) -> str:
    """The env of a ``convert`` job: its hop's converter's."""
    return ENV_PATH.format(registry.hop_env(wildcards.framework, wildcards.route))


def predict_env(wildcards: Any) -> str:
    """The env of a ``predict`` job: the runtime's of its target."""
    return ENV_PATH.format(registry.target_runtime(wildcards.framework, wildcards.target).env)


def hop_settings(
    conversion: Mapping[str, Any], pins: Mapping[str, str], framework: str, route: str
) -> dict[str, Any]:
    """The settings of the last hop of ``route``: its converter's config section, the
    options of its target format, and the pinned versions of the converter's packages."""
    source, target = registry.last_hop(framework, route)
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
    return {
        key: value[dataset] if isinstance(value, dict) else value for key, value in settings.items()
    }


def runtime_versions(pins: Mapping[str, str], framework: str, target: str) -> dict[str, str]:
    """The pinned versions of the packages of a prediction target's runtime."""
    return registry.pinned(registry.target_runtime(framework, target).packages, pins)


def framework_versions(pins: Mapping[str, str], framework: str) -> dict[str, str]:
    """The pinned versions of a training framework's packages."""
    return registry.pinned(registry.framework(framework).packages, pins)


def prediction_device(device: str, framework: str, target: str) -> str:
    """The config's ``device`` for a target whose runtime can use it, else "cpu" (so that
    changing ``device`` reruns only the jobs it reaches)."""
    return device if registry.target_runtime(framework, target).gpu else "cpu"
