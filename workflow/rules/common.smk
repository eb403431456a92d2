import sys
from pathlib import Path

# The workflow imports the package from this checkout, with or without `pip install -e .`
# (each script does the same for its job).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from convstudy import config as cs_config
from convstudy import envs as cs_envs
from convstudy.errors import ConvstudyError


def _validated(config):
    try:
        cs_config.validate(
            config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
        )
        return cs_config.local_data_dir(config)
    except ConvstudyError as error:
        sys.exit(f"convstudy: {error}")


LOCAL_DATA_DIR = _validated(config)
PINS_FILE = config.get(
    "pins_file", str(Path(workflow.basedir) / "envs/requirements.txt")
)
PINS = cs_config.read_pins(PINS_FILE)
MODELS = config["models"]
FRAMEWORKS = config["frameworks"]
SEEDS = [str(seed) for seed in config["seeds"]]
FORMATS = config["formats"]
TARGETS = ["original"] + FORMATS
DATASETS = sorted({cs_config.DATASET_OF[model] for model in MODELS})
PREPARED = config["datasets"]["prepared_dir"]


wildcard_constraints:
    model="|".join(MODELS),
    framework="|".join(FRAMEWORKS),
    seed=r"\d+",
    format="|".join(FORMATS) or "none",
    target="|".join(TARGETS),
    dataset="|".join(DATASETS),


# ---- parameters: only the values a job depends on, so a change reruns just those jobs


def dataset_of(wildcards):
    return cs_config.DATASET_OF[wildcards.model]


def prepare_params(wildcards):
    settings = dict(config["datasets"][wildcards.dataset])
    return {"split_seed": config["datasets"]["split_seed"], **settings}


def training_params(wildcards):
    return dict(config["training"][wildcards.model])


def conversion_params(wildcards):
    """The converter's settings and its pinned version, read from the project's pins."""
    if wildcards.format == "onnx" and wildcards.framework == "torch":
        settings = dict(config["conversion"]["torch_onnx"])
        packages = ["torch"] + (
            ["onnxscript"] if settings["exporter"] == "dynamo" else []
        )
    elif wildcards.format == "onnx":
        settings = dict(config["conversion"]["keras_onnx"])
        packages = ["tf2onnx"]
    else:
        settings = dict(config["conversion"]["coreml"])
        settings["precision"] = wildcards.format.split("-")[1]
        packages = ["coremltools"]
    settings["converter_versions"] = {
        name: PINS.get(name, "unpinned") for name in packages
    }
    return settings


def evaluation_params(wildcards):
    return {
        **config["evaluation"],
        "n_test": config["training"][wildcards.model]["subset"]["test"],
    }


# ---- inputs


def prepared_npz(wildcards):
    return f"{PREPARED}/{dataset_of(wildcards)}.npz"


def prepare_inputs(wildcards):
    """Nothing when a local folder is given (it is read and verified in place)."""
    if LOCAL_DATA_DIR:
        return []
    return [f"{config['datasets']['raw_dir']}/{wildcards.dataset}/.fetched"]


def trained_model(wildcards):
    return "results/models/{model}/{framework}/seed{seed}/model.{framework}".format(
        **wildcards
    )


def prediction_source(wildcards):
    if wildcards.target == "original":
        return trained_model(wildcards)
    return "results/converted/{model}/{framework}/seed{seed}/{target}".format(
        **wildcards
    )


def conda_env(rule):
    """The `conda:` function of ``rule``: one place (convstudy.envs) decides the env."""

    def env_file(wildcards):
        return f"../../envs/{cs_envs.rule_env(rule, dict(wildcards.items()))}.yaml"

    return env_file


def _cells(pattern, **extra):
    return expand(pattern, model=MODELS, framework=FRAMEWORKS, seed=SEEDS, **extra)


def gather_inputs(wildcards):
    return {
        "datasets": expand(f"{PREPARED}/{{dataset}}.json", dataset=DATASETS),
        "training": _cells("results/models/{model}/{framework}/seed{seed}/train.json"),
        "conversions": _cells(
            "results/converted/{model}/{framework}/seed{seed}/{format}", format=FORMATS
        ),
        "predictions": _cells(
            "results/predictions/{model}/{framework}/seed{seed}/{target}.json",
            target=TARGETS,
        ),
        "comparisons": _cells(
            "results/metrics/{model}/{framework}/seed{seed}/{format}.json",
            format=FORMATS,
        ),
    }


REPORT_TABLES = ["table1_accuracy", "table2_errors", "table3_time", "table4_size"]


def final_targets():
    return expand("results/report/{table}.md", table=REPORT_TABLES) + [
        "results/report/figure2_training.png"
    ]


# Written into every gathered row; only gather and report rerun when it changes.
STUDY_CONFIG_HASH = cs_config.study_hash(config)
