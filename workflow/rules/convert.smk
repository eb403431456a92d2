rule convert:
    input:
        source=hop_source,
    output:
        directory(CONVERTED),
    log:
        f"logs/convert/{CELL}/{{route}}.log",
    conda:
        grid.convert_env
    threads: config["threads"]["convert"]
    resources:
        **rule_resources("convert"),
    params:
        settings=GRID.hop_settings,
    script:
        "../scripts/convert.py"


rule read_weights:
    input:
        trained=TRAINED,
        converted=CONVERTED,
    output:
        WEIGHTS,
    log:
        f"logs/read_weights/{CELL}/{{route}}.log",
    conda:
        "../../envs/coreml.yaml"
    threads: config["threads"]["convert"]
    resources:
        **rule_resources("read_weights"),
    script:
        "../scripts/read_weights.py"
