rule predict:
    input:
        source=prediction_source,
        data=GRID.prepared_npz,
    output:
        outputs=f"{PREDICTION}.npz",
        record=f"{PREDICTION}.json",
    log:
        f"logs/predict/{CELL}/{{target}}.log",
    conda:
        grid.predict_env
    threads: THREADS["predict"]
    resources:
        **rule_resources("predict"),
    params:
        evaluation=GRID.evaluation_params,
        library_threads=config["threads"]["predict"],
        versions=GRID.runtime_versions,
        device=GRID.prediction_device,
    script:
        "../scripts/predict.py"


rule compare:
    input:
        original=ORIGINAL_OUTPUTS,
        converted=ROUTE_OUTPUTS,
        converted_record=ROUTE_RECORD,
    output:
        COMPARISON,
    log:
        f"logs/compare/{CELL}/{{route}}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("compare"),
    script:
        "../scripts/compare.py"
