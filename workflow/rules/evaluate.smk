rule predict:
    input:
        source=prediction_source,
        data=prepared_npz,
    output:
        outputs="results/predictions/{model}/{framework}/seed{seed}/{target}.npz",
        record="results/predictions/{model}/{framework}/seed{seed}/{target}.json",
    log:
        "logs/predict/{model}/{framework}/seed{seed}/{target}.log",
    benchmark:
        "benchmarks/predict/{model}/{framework}/seed{seed}/{target}.tsv"
    conda:
        conda_env("predict")
    threads: config["threads"]["predict"]
    params:
        evaluation=evaluation_params,
        hyper=training_params,
        dataset=dataset_of,
    script:
        "../scripts/predict.py"


rule compare:
    input:
        original="results/predictions/{model}/{framework}/seed{seed}/original.npz",
        converted="results/predictions/{model}/{framework}/seed{seed}/{format}.npz",
        converted_record="results/predictions/{model}/{framework}/seed{seed}/{format}.json",
    output:
        "results/metrics/{model}/{framework}/seed{seed}/{format}.json",
    log:
        "logs/compare/{model}/{framework}/seed{seed}/{format}.log",
    conda:
        conda_env("compare")
    script:
        "../scripts/compare.py"
