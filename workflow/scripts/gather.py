import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.gather import gather
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    gather(
        datasets=snakemake.input.datasets,
        training=snakemake.input.training,
        conversions=snakemake.input.conversions,
        predictions=snakemake.input.predictions,
        comparisons=snakemake.input.comparisons,
        study_config_hash=snakemake.params.study_config_hash,
        outputs=dict(snakemake.output.items()),
    )
