rule train:
    input:
        data=GRID.prepared_npz,
        checkpoint=imported_checkpoint,
    output:
        directory(TRAINED),
    log:
        f"logs/train/{CELL}.log",
    conda:
        "../../envs/{framework}.yaml"
    threads: config["threads"]["train"]
    resources:
        **rule_resources("train"),
    params:
        hyper=GRID.training_params,
        device=config["device"],
        versions=GRID.training_versions,
    script:
        "../scripts/train.py"


# Cells that adopt weights instead of training (config `training.<model>.weights`): the
# PyTorch cells of `keras` (the Keras model of the seed, carried across) and every cell of
# `imagenet` (the published weights). Both frameworks in one job, hence the transfer env.
ruleorder: adopt_keras_weights > adopt_published_weights > train


rule adopt_keras_weights:
    input:
        data=GRID.prepared_npz,
        keras_model=f"results/models/{{model}}/keras/seed{{seed}}",
    output:
        directory(TRAINED),
    log:
        f"logs/train/{CELL}.log",
    wildcard_constraints:
        model=GRID.adopting("keras"),
        framework="torch",
    conda:
        "../../envs/transfer.yaml"
    threads: config["threads"]["train"]
    resources:
        **rule_resources("train"),
    params:
        hyper=GRID.training_params,
        device=config["device"],
        versions=GRID.adopted_versions,
    script:
        "../scripts/adopt_weights.py"


rule adopt_published_weights:
    input:
        data=GRID.prepared_npz,
    output:
        directory(TRAINED),
    log:
        f"logs/train/{CELL}.log",
    wildcard_constraints:
        model=GRID.adopting("imagenet"),
    conda:
        "../../envs/transfer.yaml"
    threads: config["threads"]["train"]
    resources:
        **rule_resources("train"),
    params:
        hyper=GRID.training_params,
        device=config["device"],
        versions=GRID.adopted_versions,
    script:
        "../scripts/adopt_weights.py"


# The initialisation ablation (config `ablation.matched_init`): the arms of
# convstudy.ablation that the study's `train` jobs do not already train, with the
# ablation's epochs: each framework's own initialisers, each framework started from the
# other's initial weights of the same seed, and PyTorch with Adam's epsilon placed as Keras.
rule train_ablation:
    input:
        data=GRID.prepared_npz,
    output:
        directory(ABLATION),
    log:
        "logs/train_ablation/{model}/{arm}/seed{seed}.log",
    conda:
        "../../envs/transfer.yaml"
    threads: config["threads"]["train"]
    resources:
        **rule_resources("train"),
    params:
        hyper=GRID.ablation_hyper,
        arm=GRID.ablation_arm,
        device=config["device"],
        versions=GRID.ablation_versions,
    script:
        "../scripts/train_ablation.py"
