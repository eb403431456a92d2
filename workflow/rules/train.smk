rule train:
    input:
        data=prepared_npz,
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
        versions=training_versions,
    script:
        "../scripts/train.py"
