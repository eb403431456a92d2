rule fetch_dataset:
    output:
        touch(f"{config['datasets']['raw_dir']}/{{dataset}}/.fetched"),
    log:
        "logs/fetch_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/fetch_dataset.py"


rule prepare_dataset:
    input:
        prepare_inputs,
    output:
        npz=f"{PREPARED}/{{dataset}}.npz",
        provenance=f"{PREPARED}/{{dataset}}.json",
    params:
        settings=prepare_params,
        local_dir=LOCAL_DATA_DIR,
        raw_dir=config["datasets"]["raw_dir"],
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    threads: config["threads"]["prepare"]
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_dataset.py"
