import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.scripting import job_log

# The job function is imported inside job_log, which may first restrict imports to
# what the job's conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.prediction import predict_cell

    predict_cell(
        model_name=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        target=snakemake.wildcards.target,
        seed=int(snakemake.wildcards.seed),
        dataset=snakemake.params.dataset,
        source=snakemake.input.source,
        data_path=snakemake.input.data,
        hyper=snakemake.params.hyper,
        evaluation=snakemake.params.evaluation,
        threads=snakemake.threads,
        outputs_out=snakemake.output.outputs,
        record_out=snakemake.output.record,
    )
