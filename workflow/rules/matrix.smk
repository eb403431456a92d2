# ---- conversion matrix (Part 2): the hops are `convert` jobs (workflow/rules/convert.smk),
# every hop's model is predicted and compared with the source (workflow/rules/evaluate.smk).


rule matrix_path:
    input:
        conversions=matrix_conversions,
        comparisons=matrix_comparisons,
    output:
        MATRIX_PATH,
    log:
        f"logs/matrix_path/{CELL}/{{route}}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("matrix_path"),
    script:
        "../scripts/matrix_path.py"


rule matrix_report:
    input:
        matrix="results/tables/matrix.csv",
    output:
        paths=report(
            "results/report/matrix_paths.html",
            caption="../report/matrix_paths.rst",
            category="Tables",
            labels={"table": "matrix paths: disagreement per source and target"},
        ),
        hops=report(
            "results/report/matrix_hops.html",
            caption="../report/matrix_hops.rst",
            category="Tables",
            labels={"table": "matrix hops: status, time, size, change per hop"},
        ),
        markdown=expand("results/report/{table}.md", table=MATRIX_REPORT),
        csv=expand("results/report/{table}.csv", table=MATRIX_REPORT),
        figure=report(
            "results/report/matrix_heatmap.png",
            caption="../report/matrix_heatmap.rst",
            category="Figures",
            labels={"figure": "matrix: label disagreement per path"},
        ),
    log:
        "logs/matrix_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    script:
        "../scripts/matrix_report.py"
