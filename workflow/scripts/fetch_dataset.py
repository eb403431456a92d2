from convstudy.data import fetch_dataset
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    fetch_dataset(snakemake.wildcards.dataset, snakemake.params.raw_dir)
