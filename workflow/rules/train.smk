rule train:
    input:
        data=prepared_npz,
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
        hyper=training_params,
        device=config["device"],
        versions=training_versions,
    script:
        "../scripts/train.py"


# The matched-initialisation ablation: Keras models that start from the initial weights
# of the PyTorch model of the same seed (config `ablation.matched_init`).
rule train_matched:
    input:
        data=prepared_npz,
    output:
        directory(f"results/ablation/matched_init/{CELL}"),
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
        hyper=training_params,
        device=config["device"],
        versions=training_versions,
        init="matched",
    script:
        "../scripts/train.py"
