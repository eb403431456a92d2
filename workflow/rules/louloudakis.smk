# ---- Louloudakis et al.'s grid (config `louloudakis`): architectures as sources in four
# frameworks (the trained PyTorch and Keras models, the Keras model as a TF SavedModel and
# as TFLite), each converted to the other three; every hop a `convert` job, every model
# predicted on the same images; each pair compared source against target, every faulty
# pair (and the case study's) localized and repaired.


rule louloudakis_pair:
    input:
        original=LOULOUDAKIS_BASE_OUTPUTS,
        converted=ROUTE_OUTPUTS,
        converted_record=ROUTE_RECORD,
    output:
        LOULOUDAKIS_PAIR,
    log:
        f"logs/louloudakis_pair/{CELL}/{{base}}/{{route}}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("compare"),
    script:
        "../scripts/compare.py"


checkpoint louloudakis_faulty:
    input:
        comparisons=GRID.louloudakis_files("pairs"),
    output:
        LOULOUDAKIS_FAULTY,
    log:
        "logs/louloudakis_faulty.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("localization_pairs"),
    params:
        trigger=GRID.localization.get("trigger", {}),
        always=GRID.louloudakis_case_pairs(),
    script:
        "../scripts/louloudakis_faulty.py"


rule localize_pair:
    input:
        source=louloudakis_base_folder,
        target=CONVERTED,
        data=GRID.prepared_npz,
    output:
        directory(LOULOUDAKIS_LOCALIZATION),
    log:
        f"logs/localize_pair/{CELL}/{{base}}/{{route}}.log",
    conda:
        "../../envs/localize.yaml"
    threads: THREADS.get("localize", 1)
    resources:
        **rule_resources("localize_pair"),
    params:
        settings=GRID.localization_settings(),
    script:
        "../scripts/localize.py"


rule louloudakis_report:
    input:
        pairs=GRID.louloudakis_files("pairs"),
        conversions=GRID.louloudakis_files("conversions"),
        trained=GRID.louloudakis_files("trained"),
        originals=GRID.louloudakis_files("originals"),
        localizations=louloudakis_localizations,
    output:
        grid=report(
            "results/report/louloudakis_grid.html",
            caption="../report/louloudakis_grid.rst",
            category="Louloudakis et al.",
            labels={"table": "the grid: label change per source and target"},
        ),
        figure=report(
            "results/report/louloudakis_grid.png",
            caption="../report/louloudakis_grid.rst",
            category="Louloudakis et al.",
            labels={"figure": "Figure 1: label change per source and target"},
        ),
        tables=expand(
            "results/report/{table}.{ext}",
            table=[
                "louloudakis_models",
                "louloudakis_grid",
                "louloudakis_published",
                "louloudakis_case",
            ],
            ext=["md", "csv"],
        ),
        pairs="results/report/louloudakis_pairs.csv",
    log:
        "logs/louloudakis_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    params:
        pairs=GRID.louloudakis_pair_dicts(),
        case=GRID.louloudakis.get("case", {}),
        floor=GRID.robustness["floor"],
    script:
        "../scripts/louloudakis_report.py"
