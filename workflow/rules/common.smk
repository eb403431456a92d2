import re
import sys
from pathlib import Path

# The workflow imports the package from this checkout, with or without `pip install -e .`
# (each script does the same for its job).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from convstudy import config as cs_config
from convstudy import envs as cs_envs
from convstudy import formats, grid, registry
from convstudy.ablation import ARMS as ABLATION_ARMS
from convstudy.attacks.embedding import RESOLVED_FILE as RESOLVED_EMBEDDING
from convstudy.data.sources import verify_local_copy
from convstudy.errors import ConvstudyError
from convstudy.grid import *  # the path patterns (TRAINED, CONVERTED, ...)
from convstudy.provenance import read_json
from convstudy.records import RECORD_TYPES


def _validated(config):
    """The grid of a valid config; an invalid one, or a corrupt local dataset copy, stops
    the run with one line before any job runs (so no finished output is deleted for it).
    """
    try:
        cs_config.validate(
            config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
        )
        local = cs_config.local_data_dir(config)
        sources = (config.get("matrix") or {}).get("sources") or []
        found = {
            s["name"]: formats.detect(s["path"], f"matrix.sources.{i}.path")
            for i, s in enumerate(sources)
        }
        pins = config.get("pins_file", f"{workflow.basedir}/envs/requirements.txt")
        the_grid = grid.Grid(config, cs_config.read_pins(pins), found)
        if local:
            verify_local_copy(
                local, the_grid.source_datasets, ".snakemake/convstudy/verified.json"
            )
        return local, the_grid
    except ConvstudyError as error:
        sys.exit(f"convstudy: {error}")


LOCAL_DATA_DIR, GRID = _validated(config)
IMPORTED = cs_config.imported_models(config)
PREPARED = GRID.prepared_dir
EMBEDDING = f"{PREPARED}/{RESOLVED_EMBEDDING}"
# Written into every gathered row; only gather and report rerun when it changes.
STUDY_CONFIG_HASH = cs_config.study_hash(config)
THREADS = config["threads"]


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) or "none"


wildcard_constraints:
    model=_alternatives(GRID.cell_models),
    framework=_alternatives(GRID.frameworks),
    seed=r"\d+",
    route=_alternatives(GRID.hops),
    target=_alternatives([registry.ORIGINAL, *GRID.hops]),
    dataset=_alternatives([*GRID.all_datasets, *GRID.source_datasets]),
    table=_alternatives(RECORD_TYPES),
    attack=_alternatives(registry.ATTACKS),
    source=_alternatives(GRID.sources),
    package=_alternatives(GRID.versions.get("converters", {})),
    version=r"[0-9][0-9A-Za-z.+!]*",
    against="original|pinned",
    base=_alternatives([registry.ORIGINAL, *GRID.hops]),
    arm=_alternatives(ABLATION_ARMS),


def rule_resources(rule):
    """The rule's memory and runtime (minutes) from the config (cluster profiles use them)."""
    return config["resources"].get(rule, config["resources"]["default"])


# ---- input functions: one line each, the grid decides


def prepare_inputs(wildcards):
    """Nothing when a local folder is given (it is read and verified in place)."""
    return (
        []
        if LOCAL_DATA_DIR
        else [f"{GRID.raw_dir}/{GRID.base_dataset(wildcards)}/.fetched"]
    )


def imported_checkpoint(wildcards):
    """The checkpoint a cell imports instead of training (`imported_models`), or nothing."""
    cell = CELL.format(**wildcards)
    return [IMPORTED[cell]] if cell in IMPORTED else []


def raw_dir_of(wildcards, output):
    """The raw folder, derived from the output so that it follows any path prefix."""
    return str(Path(output[0]).parents[1])


def hop_source(wildcards):
    return GRID.route_input(wildcards, TRAINED, CONVERTED)


def prediction_source(wildcards):
    return GRID.target_input(wildcards, TRAINED, CONVERTED)


def matrix_conversions(wildcards):
    return GRID.along_route(wildcards, CONVERTED)


def matrix_comparisons(wildcards):
    return GRID.along_route(wildcards, COMPARISON)


def attack_embedding(wildcards):
    return GRID.attack_embedding(wildcards, EMBEDDING)


def localization_pairs():
    return read_json(checkpoints.localization_pairs.get().output[0])["pairs"]


def gather_records(wildcards):
    return GRID.gather_inputs(wildcards.table, localization_pairs)


def source_file(wildcards):
    return GRID.sources[wildcards.source]["path"]


def source_settings(wildcards):
    return GRID.sources[wildcards.source]


def source_format(wildcards):
    return GRID.source_formats[wildcards.source]


def source_hop_input(wildcards):
    return GRID.route_input(wildcards, SOURCE_MODEL, SOURCE_CONVERTED)


def source_prediction_input(wildcards):
    return GRID.target_input(wildcards, SOURCE_MODEL, SOURCE_CONVERTED)


def source_conversions(wildcards):
    return GRID.along_route(wildcards, SOURCE_CONVERTED)


def source_comparisons(wildcards):
    return GRID.along_route(wildcards, SOURCE_COMPARISON)


def louloudakis_base_folder(wildcards):
    return GRID.target_input(
        grid.W(wildcards, target=wildcards.base), TRAINED, CONVERTED
    )


def louloudakis_localizations(wildcards):
    faulty = read_json(checkpoints.louloudakis_faulty.get().output[0])["pairs"]
    return GRID.louloudakis_localizations(faulty)
