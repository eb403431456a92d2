import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.comparison import compare_cell
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    compare_cell(
        original=snakemake.input.original,
        converted=snakemake.input.converted,
        converted_record=snakemake.input.converted_record,
        out=snakemake.output[0],
    )
