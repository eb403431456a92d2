rule convert:
    input:
        model=trained_model,
        data=prepared_npz,
    output:
        directory("results/converted/{model}/{framework}/seed{seed}/{format}"),
    log:
        "logs/convert/{model}/{framework}/seed{seed}/{format}.log",
    benchmark:
        "benchmarks/convert/{model}/{framework}/seed{seed}/{format}.tsv"
    conda:
        conda_env("convert")
    threads: config["threads"]["convert"]
    params:
        converter=conversion_params,
        hyper=training_params,
        dataset=dataset_of,
    script:
        "../scripts/convert.py"
