rule fetch_dataset:
    output:
        touch(f"{config['datasets']['raw_dir']}/{{dataset}}/.fetched"),
    log:
        "logs/fetch_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("fetch_dataset"),
    params:
        # the raw folder, derived from the output so it follows any path prefix
        raw_dir=lambda wildcards, output: str(Path(output[0]).parents[1]),
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
        "../../envs/data.yaml"
    threads: config["threads"]["prepare"]
    resources:
        **rule_resources("prepare_dataset"),
    params:
        settings=prepare_params,
        local_dir=LOCAL_DATA_DIR,
        # the raw folder, derived from the output so it follows any path prefix
        raw_dir=lambda wildcards, output: str(Path(output[0]).parents[1]),
    script:
        "../scripts/prepare_dataset.py"
