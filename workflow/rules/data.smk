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
        raw_dir=raw_dir_of,
    script:
        "../scripts/fetch_dataset.py"


# The local copy's folder is not a parameter: its files are verified against their pinned
# sha256 before anything runs (common.smk), so the same bytes elsewhere rerun nothing.
rule prepare_dataset:
    input:
        prepare_inputs,
    output:
        npz=f"{PREPARED}/{{dataset}}.npz",
        provenance=f"{PREPARED}/{{dataset}}.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: config["threads"]["prepare"]
    resources:
        **rule_resources("prepare_dataset"),
    params:
        dataset=GRID.base_dataset,
        settings=GRID.prepare_params,
        raw_dir=raw_dir_of,
    script:
        "../scripts/prepare_dataset.py"
