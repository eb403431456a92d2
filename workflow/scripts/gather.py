import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.scripting import job_log

# The job function is imported inside job_log, which may first restrict imports to
# what the job's conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.gather import gather

    gather(
        datasets=snakemake.input.datasets,
        training=snakemake.input.training,
        conversions=snakemake.input.conversions,
        predictions=snakemake.input.predictions,
        comparisons=snakemake.input.comparisons,
        study_config_hash=snakemake.params.study_config_hash,
        outputs=dict(snakemake.output.items()),
    )
