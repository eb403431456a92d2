import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The brought model runs in its own format's runtime: its target is named by its format.
with job_log(snakemake):
    from convstudy import registry
    from convstudy.jobs import predict

    framework = snakemake.params.framework
    target = snakemake.wildcards.target
    predict.run(
        model=snakemake.wildcards.source,
        framework=framework,
        seed=0,
        target=framework if target == registry.ORIGINAL else target,
        source=snakemake.input.source,
        data_path=snakemake.input.data,
        evaluation=snakemake.params.evaluation,
        threads=snakemake.threads,
        outputs_out=snakemake.output.outputs,
        record_out=snakemake.output.record,
    )
