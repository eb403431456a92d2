# RQ3: adversarial robustness. Per attacked cell: one selection, one attack per attack of
# the model's kind (with its replay on the original), one replay per converted model, one
# comparison per route.


rule select:
    input:
        predictions=GRID.selection_predictions,
    output:
        SELECTION,
    log:
        f"logs/select/{CELL}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("select"),
    params:
        n=GRID.selection_n,
        floor=GRID.selection_floor,
    script:
        "../scripts/select.py"


rule embedding:
    output:
        EMBEDDING,
    log:
        "logs/embedding.log",
    conda:
        "../../envs/attacks.yaml"
    resources:
        **rule_resources("embedding"),
    params:
        settings=GRID.embedding_settings(),
        raw_dir=GRID.raw_dir,
    script:
        "../scripts/embedding.py"


rule attack:
    input:
        trained=TRAINED,
        selection=SELECTION,
        model_outputs=ORIGINAL_OUTPUTS,
        data=GRID.prepared_npz,
        embedding=attack_embedding,
    output:
        adversarial=ADVERSARIAL,
        record=ATTACKED,
        # the adversarial set through the attacked model itself, replayed by the attack
        # job (its framework is imported already); rule replay does the converted models
        replay=REPLAY_ORIGINAL,
    log:
        f"logs/attack/{CELL}/{{attack}}.log",
    conda:
        "../../envs/attacks.yaml"
    threads: config["threads"]["attack"]
    resources:
        **rule_resources("attack"),
    params:
        settings=GRID.attack_settings,
        versions=GRID.attack_versions,
        n_test=GRID.n_test,
        batch_size=config["evaluation"]["batch_size"],
    script:
        "../scripts/attack.py"


rule replay:
    input:
        source=prediction_source,
        adversarial=ADVERSARIAL,
    output:
        REPLAY,
    log:
        f"logs/replay/{CELL}/{{attack}}/{{target}}.log",
    wildcard_constraints:
        target=_alternatives(GRID.hops),  # the original's replay: rule attack
    conda:
        grid.predict_env
    threads: config["threads"]["predict"]
    resources:
        **rule_resources("predict"),
    params:
        batch_size=config["evaluation"]["batch_size"],
        versions=GRID.runtime_versions,
    script:
        "../scripts/replay.py"


rule robustness:
    input:
        attack_record=ATTACKED,
        adversarial=ADVERSARIAL,
        original=REPLAY_ORIGINAL,
        converted=REPLAY_ROUTE,
    output:
        ROBUSTNESS_RECORD,
    log:
        f"logs/robustness/{CELL}/{{attack}}/{{route}}.log",
    conda:
        "../../envs/report.yaml"
    resources:
        **rule_resources("robustness"),
    script:
        "../scripts/robustness.py"


# Beyond the paper: the Boundary attack needs only outputs, so it also runs against a
# converted model itself, in its runtime (config `robustness.direct`: routes).
rule attack_direct:
    input:
        trained=TRAINED,
        target=CONVERTED,
        selection=SELECTION,
        model_outputs=ROUTE_OUTPUTS,
        data=GRID.prepared_npz,
    output:
        adversarial=DIRECT_ADVERSARIAL,
        record=DIRECT,
    log:
        f"logs/attack_direct/{CELL}/{{route}}.log",
    conda:
        "../../envs/attacks.yaml"
    threads: config["threads"]["attack"]
    resources:
        **rule_resources("attack"),
    params:
        settings=GRID.boundary_settings,
        versions=GRID.boundary_versions,
        n_test=GRID.n_test,
    script:
        "../scripts/attack.py"
