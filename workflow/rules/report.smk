rule gather:
    input:
        unpack(gather_inputs),
    output:
        training="results/tables/training.csv",
        conversions="results/tables/conversions.csv",
        coreml_weights="results/tables/coreml_weights.csv",
        predictions="results/tables/predictions.csv",
        comparisons="results/tables/comparisons.csv",
    log:
        "logs/gather.log",
    conda:
        conda_env("gather")
    params:
        study_config_hash=STUDY_CONFIG_HASH,
    script:
        "../scripts/gather.py"


rule report:
    input:
        training="results/tables/training.csv",
        predictions="results/tables/predictions.csv",
        comparisons="results/tables/comparisons.csv",
    output:
        tables=expand(
            "results/report/{table}.{ext}", table=REPORT_TABLES, ext=["csv", "md"]
        ),
        figure_png=report(
            "results/report/figure2_training.png",
            caption="../report/figure2.rst",
            category="Figure 2: training curves",
        ),
        figure_svg="results/report/figure2_training.svg",
    log:
        "logs/report.log",
    conda:
        conda_env("report")
    script:
        "../scripts/report.py"
