rule gather:
    input:
        records=gather_records,
        datasets=expand(f"{PREPARED}/{{dataset}}.json", dataset=GRID.datasets),
    output:
        "results/tables/{table}.csv",
    log:
        "logs/gather/{table}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("gather"),
    params:
        study_config_hash=STUDY_CONFIG_HASH,
    script:
        "../scripts/gather.py"


rule report_fidelity:
    input:
        training="results/tables/training.csv",
        predictions="results/tables/predictions.csv",
        comparisons="results/tables/comparisons.csv",
    output:
        table1=report(
            "results/report/table1_accuracy.html",
            caption="../report/table1.rst",
            category="Tables",
            labels={"table": "I: accuracy"},
        ),
        table2=report(
            "results/report/table2_errors.html",
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "II: output errors"},
        ),
        table3=report(
            "results/report/table3_time.html",
            caption="../report/table3.rst",
            category="Tables",
            labels={"table": "III: load and inference time"},
        ),
        table4=report(
            "results/report/table4_size.html",
            caption="../report/table4.rst",
            category="Tables",
            labels={"table": "IV: size"},
        ),
        csv=expand("results/report/{table}.csv", table=REPORT_TABLES),
        markdown=expand("results/report/{table}.md", table=REPORT_TABLES),
        figure_png=report(
            "results/report/figure2_training.png",
            caption="../report/figure2.rst",
            category="Figures",
            labels={"figure": "2: training curves"},
        ),
        figure_svg="results/report/figure2_training.svg",
    log:
        "logs/report_fidelity.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    script:
        "../scripts/report.py"


rule ablation_init:
    input:
        models=GRID.ablation_inputs(),
    output:
        table=report(
            "results/report/ablation_init.html",
            caption="../report/ablation_init.rst",
            category="Ablations",
            labels={"table": "initialisation: arms"},
        ),
        gaps=report(
            "results/report/ablation_init_gaps.html",
            caption="../report/ablation_init_gaps.rst",
            category="Ablations",
            labels={"table": "initialisation: gaps"},
        ),
        csv="results/report/ablation_init.csv",
        markdown="results/report/ablation_init.md",
        gaps_csv="results/report/ablation_init_gaps.csv",
        gaps_markdown="results/report/ablation_init_gaps.md",
        cells="results/report/ablation_init_cells.csv",
        epochs="results/report/ablation_init_epochs.csv",
        figure_png=report(
            "results/report/ablation_init_curves.png",
            caption="../report/ablation_init_curves.rst",
            category="Figures",
            labels={"figure": "ablation: validation accuracy per epoch"},
        ),
        figure_svg="results/report/ablation_init_curves.svg",
    log:
        "logs/ablation_init.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    script:
        "../scripts/ablation_init.py"


rule report_robustness:
    input:
        attacks="results/tables/attacks.csv",
        robustness="results/tables/robustness.csv",
    output:
        table5=report(
            "results/report/table5_robustness_cnn.html",
            caption="../report/table5.rst",
            category="Tables",
            labels={"table": "V: CNN robustness"},
        ),
        table6=report(
            "results/report/table6_robustness_rnn.html",
            caption="../report/table6.rst",
            category="Tables",
            labels={"table": "VI: RNN robustness"},
        ),
        table7=report(
            "results/report/table7_indicator.html",
            caption="../report/table7.rst",
            category="Tables",
            labels={"table": "VII: robustness indicator"},
        ),
        bounded=report(
            "results/report/boundary_bounded.html",
            caption="../report/boundary_bounded.rst",
            category="Tables",
            labels={"table": "Boundary within bounds"},
        ),
        steps=report(
            "results/report/boundary_steps.html",
            caption="../report/boundary_steps.rst",
            category="Tables",
            labels={"table": "Boundary distance against steps"},
        ),
        tests=report(
            "results/report/rq3_tests.html",
            caption="../report/rq3_tests.rst",
            category="Tables",
            labels={"table": "RQ3 pooled tests"},
        ),
        cost=report(
            "results/report/attack_cost.html",
            caption="../report/attack_cost.rst",
            category="Tables",
            labels={"table": "attack cost"},
        ),
        csv=expand(
            "results/report/{table}.csv", table=[*ROBUSTNESS_TABLES, "attack_cost"]
        ),
        markdown=expand(
            "results/report/{table}.md", table=[*ROBUSTNESS_TABLES, "attack_cost"]
        ),
        figure3=report(
            "results/report/figure3_attack_cnn.png",
            caption="../report/figure3.rst",
            category="Figures",
            labels={"figure": "3: CNN attack success"},
        ),
        figure4=report(
            "results/report/figure4_attack_rnn.png",
            caption="../report/figure4.rst",
            category="Figures",
            labels={"figure": "4: RNN attack success"},
        ),
        svg=expand("results/report/{figure}.svg", figure=ROBUSTNESS_FIGURES),
    log:
        "logs/report_robustness.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("report"),
    params:
        part="robustness",
    script:
        "../scripts/report.py"
