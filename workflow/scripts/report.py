import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.report import write_report
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    write_report(
        training=snakemake.input.training,
        predictions=snakemake.input.predictions,
        comparisons=snakemake.input.comparisons,
        out_dir=snakemake.output.figure_png.rsplit("/", 1)[0],
    )
