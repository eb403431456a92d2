rule train:
    input:
        data=GRID.prepared_npz,
        checkpoint=imported_checkpoint,
    output:
        directory(TRAINED),
    log:
        f"logs/train/{CELL}.log",
    benchmark:
        f"benchmarks/train/{CELL}.tsv"
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


# The matched-initialisation ablation: Keras models that start from the initial weights
# of the PyTorch model of the same seed (config `ablation.matched_init`).
rule train_matched:
    input:
        data=GRID.prepared_npz,
    output:
        directory(MATCHED),
    log:
        f"logs/train_matched/{CELL}.log",
    benchmark:
        f"benchmarks/train_matched/{CELL}.tsv"
    conda:
        "../../envs/transfer.yaml"
    threads: config["threads"]["train"]
    resources:
        **rule_resources("train"),
    params:
        hyper=GRID.training_params,
        device=config["device"],
        versions=GRID.training_versions,
        init="matched",
    script:
        "../scripts/train.py"
