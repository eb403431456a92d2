# ---- models the user brings (config `matrix.sources`) as sources of conversion-matrix
# paths: imported, converted hop by hop with the study's converters, run in each format's
# runtime and compared with the brought model on its inputs. A file the import refuses is
# a finding: its paths are rows whose hops are not_run with the reason, and the report of
# the other sources is written all the same.


rule import_source:
    input:
        source_file,
    output:
        model=directory(SOURCE_MODEL),
        inputs=SOURCE_INPUTS,
    log:
        "logs/import_source/{source}.log",
    conda:
        "../../envs/localize.yaml"
    resources:
        **rule_resources("convert"),
    params:
        settings=source_settings,
    script:
        "../scripts/import_source.py"


rule convert_source:
    input:
        source=source_hop_input,
    output:
        directory(SOURCE_CONVERTED),
    log:
        "logs/convert_source/{source}/{route}.log",
    conda:
        "../../envs/localize.yaml"
    threads: config["threads"]["convert"]
    resources:
        **rule_resources("convert"),
    params:
        settings=GRID.source_hop_settings,
        framework=source_format,
    script:
        "../scripts/convert_source.py"


rule predict_source:
    input:
        source=source_prediction_input,
        data=SOURCE_INPUTS,
    output:
        outputs=f"{SOURCE_PREDICTION}.npz",
        record=f"{SOURCE_PREDICTION}.json",
    log:
        "logs/predict_source/{source}/{target}.log",
    conda:
        "../../envs/localize.yaml"
    threads: config["threads"]["predict"]
    resources:
        **rule_resources("predict"),
    params:
        evaluation=GRID.source_evaluation,
        framework=source_format,
    script:
        "../scripts/predict_source.py"


rule compare_source:
    input:
        original=SOURCE_ORIGINAL,
        converted=SOURCE_ROUTE_OUTPUTS,
        converted_record=SOURCE_ROUTE_RECORD,
    output:
        SOURCE_COMPARISON,
    log:
        "logs/compare_source/{source}/{route}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("compare"),
    script:
        "../scripts/compare.py"


rule source_path:
    input:
        conversions=source_conversions,
        comparisons=source_comparisons,
    output:
        SOURCE_PATH,
    log:
        "logs/source_path/{source}/{route}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("matrix_path"),
    script:
        "../scripts/matrix_path.py"


rule sources_report:
    input:
        paths=GRID.source_paths_of(SOURCE_PATH),
    output:
        table=report(
            "results/report/matrix_sources.html",
            caption="../report/matrix_sources.rst",
            category="Tables",
            labels={"table": "matrix: brought models"},
        ),
        csv="results/report/matrix_sources.csv",
        markdown="results/report/matrix_sources.md",
        hops="results/report/matrix_sources_hops.md",
    log:
        "logs/sources_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    params:
        sources=GRID.source_entries,
    script:
        "../scripts/sources_report.py"
