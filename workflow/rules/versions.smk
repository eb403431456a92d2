# ---- converter releases side by side (config `versions`): each listed release of a
# converter installed in its own folder from PyPI, converting every hop of RQ1's routes
# that uses it, from the same source folder as the pinned release's hop.


rule converter_env:
    output:
        directory(VERSION_ENV),
    log:
        "logs/converter_env/{package}/{version}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("converter_env"),
    script:
        "../scripts/converter_env.py"


rule convert_version:
    input:
        source=hop_source,
        env=VERSION_ENV,
    output:
        directory(VERSIONED),
    log:
        f"logs/convert_version/{{package}}/{{version}}/{CELL}/{{route}}.log",
    conda:
        grid.convert_env
    threads: config["threads"]["convert"]
    resources:
        **rule_resources("convert"),
    params:
        settings=GRID.hop_settings,
    script:
        "../scripts/convert_version.py"


rule predict_version:
    input:
        source=VERSIONED_TARGET,
        data=GRID.prepared_npz,
    output:
        outputs=f"{VERSIONED_PREDICTION}.npz",
        record=f"{VERSIONED_PREDICTION}.json",
    log:
        f"logs/predict_version/{{package}}/{{version}}/{CELL}/{{target}}.log",
    conda:
        grid.predict_env
    threads: config["threads"]["predict"]
    resources:
        **rule_resources("predict"),
    params:
        evaluation=GRID.version_evaluation,
        library_threads=config["threads"]["predict"],
        versions=GRID.runtime_versions,
        device="cpu",
    script:
        "../scripts/predict.py"


rule compare_version:
    input:
        original=GRID.version_baseline,
        converted=f"{VERSIONED_ROUTE}.npz",
        converted_record=f"{VERSIONED_ROUTE}.json",
    output:
        VERSIONED_COMPARISON,
    log:
        f"logs/compare_version/{{package}}/{{version}}/{CELL}/{{route}}-{{against}}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("compare"),
    script:
        "../scripts/compare.py"


rule versions_report:
    input:
        GRID.version_files(),
    output:
        table=report(
            "results/report/converter_versions.html",
            caption="../report/converter_versions.rst",
            category="Tables",
            labels={"table": "converter releases side by side"},
        ),
        csv="results/report/converter_versions.csv",
        markdown="results/report/converter_versions.md",
    log:
        "logs/versions_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    params:
        entries=GRID.version_entries(),
    script:
        "../scripts/versions_report.py"
