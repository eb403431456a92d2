# convstudy: conversion fidelity of deep-learning models (see README.md).
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/matrix.smk"
include: "workflow/rules/localize.smk"
include: "workflow/rules/versions.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/louloudakis.smk"
include: "workflow/rules/targets.smk"


# Every stage the config turns on (workflow/rules/targets.smk names each one).
rule all:
    default_target: True
    input:
        GRID.stage_targets("report"),


# With the env check on, every job learns its rule's conda directive (see convstudy.envs).
if os.environ.get(cs_envs.CHECK_ENV_VAR) == "1":
    config[cs_envs.RULE_ENVS_KEY] = cs_envs.rule_envs(workflow.rules)
