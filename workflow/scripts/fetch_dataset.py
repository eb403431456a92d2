import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from convstudy.data import fetch_dataset
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    fetch_dataset(snakemake.wildcards.dataset, snakemake.params.raw_dir)
