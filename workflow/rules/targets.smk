# ---- named targets: `snakemake --cores 2 rq3` makes one stage of the study and only what it
# needs (convstudy.grid.STAGES); `report`, like `all` (the default), makes every stage the
# config turns on.


rule report:
    input:
        GRID.stage_targets("report"),


rule rq1:
    input:
        GRID.stage_targets("rq1"),


rule rq2:
    input:
        GRID.stage_targets("rq2"),


rule rq3:
    input:
        GRID.stage_targets("rq3"),


rule ablation:
    input:
        GRID.stage_targets("ablation"),


rule matrix:
    input:
        GRID.stage_targets("matrix"),


rule localization:
    input:
        GRID.stage_targets("localization"),


rule sources:
    input:
        GRID.stage_targets("sources"),


rule versions:
    input:
        GRID.stage_targets("versions"),


rule louloudakis:
    input:
        GRID.stage_targets("louloudakis"),
