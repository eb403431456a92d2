rule train:
    input:
        data=prepared_npz,
    output:
        model="results/models/{model}/{framework}/seed{seed}/model.{framework}",
        history="results/models/{model}/{framework}/seed{seed}/history.csv",
        provenance="results/models/{model}/{framework}/seed{seed}/train.json",
    log:
        "logs/train/{model}/{framework}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{framework}/seed{seed}.tsv"
    conda:
        conda_env("train")
    threads: config["threads"]["train"]
    params:
        hyper=training_params,
        dataset=dataset_of,
    script:
        "../scripts/train.py"
