import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.jobs import predict

    predict.run(
        model=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        seed=int(snakemake.wildcards.seed),
        target=snakemake.wildcards.target,
        source=snakemake.input.source,
        data_path=snakemake.input.data,
        evaluation=snakemake.params.evaluation,
        threads=snakemake.params.library_threads,
        outputs_out=snakemake.output.outputs,
        record_out=snakemake.output.record,
        device=snakemake.params.device,
    )
