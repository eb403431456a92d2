rule train:
    input:
        data=prepared_npz,
    output:
        model="results/models/{model}/{framework}/seed{seed}/model.{framework}",
        history="results/models/{model}/{framework}/seed{seed}/history.csv",
        provenance="results/models/{model}/{framework}/seed{seed}/train.json",
    params:
        hyper=training_params,
        dataset=dataset_of,
    log:
        "logs/train/{model}/{framework}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{framework}/seed{seed}.tsv"
    threads: config["threads"]["train"]
    conda:
        framework_env
    script:
        "../scripts/train.py"
