rule convert:
    input:
        model=trained_model,
        data=prepared_npz,
    output:
        directory("results/converted/{model}/{framework}/seed{seed}/{format}"),
    params:
        converter=conversion_params,
        hyper=training_params,
        dataset=dataset_of,
    log:
        "logs/convert/{model}/{framework}/seed{seed}/{format}.log",
    benchmark:
        "benchmarks/convert/{model}/{framework}/seed{seed}/{format}.tsv"
    threads: config["threads"]["convert"]
    conda:
        conversion_env
    script:
        "../scripts/convert.py"
