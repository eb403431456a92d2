rule predict:
    input:
        source=prediction_source,
        data=prepared_npz,
    output:
        outputs=f"{PREDICTION}.npz",
        record=f"{PREDICTION}.json",
    log:
        f"logs/predict/{CELL}/{{target}}.log",
    benchmark:
        f"benchmarks/predict/{CELL}/{{target}}.tsv"
    conda:
        cs_workflow.predict_env
    threads: predict_threads
    resources:
        **rule_resources("predict"),
    params:
        evaluation=evaluation_params,
        library_threads=config["threads"]["predict"],
        versions=runtime_versions,
        device=prediction_device,
    script:
        "../scripts/predict.py"


rule compare:
    input:
        original=f"results/predictions/{CELL}/original.npz",
        converted=f"results/predictions/{CELL}/{{route}}.npz",
        converted_record=f"results/predictions/{CELL}/{{route}}.json",
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
