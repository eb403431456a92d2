rule fetch_dataset:
    output:
        touch(f"{config['datasets']['raw_dir']}/{{dataset}}/.fetched"),
    log:
        "logs/fetch_dataset/{dataset}.log",
    conda:
        conda_env("fetch_dataset")
    script:
        "../scripts/fetch_dataset.py"


rule prepare_dataset:
    input:
        prepare_inputs,
    output:
        npz=f"{PREPARED}/{{dataset}}.npz",
        provenance=f"{PREPARED}/{{dataset}}.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        conda_env("prepare_dataset")
    threads: config["threads"]["prepare"]
    params:
        settings=prepare_params,
        local_dir=LOCAL_DATA_DIR,
        raw_dir=config["datasets"]["raw_dir"],
    script:
        "../scripts/prepare_dataset.py"
