# ---- fault localisation and repair (Part 2) of every faulty converted model: which
# models are faulty is known only after their comparisons, hence the checkpoint.


checkpoint localization_pairs:
    input:
        comparisons=GRID.localization_candidates(),
    output:
        LOCALIZATION_PAIRS,
    log:
        "logs/localization_pairs.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("localization_pairs"),
    params:
        trigger=GRID.localization.get("trigger", {}),
    script:
        "../scripts/localization_pairs.py"


rule localize:
    input:
        source=TRAINED,
        target=CONVERTED,
        data=GRID.prepared_npz,
    output:
        directory(LOCALIZATION),
    log:
        f"logs/localize/{CELL}/{{route}}.log",
    conda:
        "../../envs/localize.yaml"
    threads: THREADS.get("localize", 1)
    resources:
        **rule_resources("localize"),
    params:
        settings=GRID.localization_settings(),
    script:
        "../scripts/localize.py"


rule localization_report:
    input:
        localizations="results/tables/localizations.csv",
    output:
        table=report(
            "results/report/localizations.html",
            caption="../report/localizations.rst",
            category="Tables",
            labels={"table": "fault localisation and repair"},
        ),
        csv="results/report/localizations.csv",
        markdown="results/report/localizations.md",
    log:
        "logs/localization_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    script:
        "../scripts/localization_report.py"
