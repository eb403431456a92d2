from convstudy.data import prepare_dataset
from convstudy.scripting import job_log

with job_log(snakemake.log[0]):
    prepare_dataset(
        snakemake.wildcards.dataset,
        local_dir=snakemake.params.local_dir,
        raw_dir=snakemake.params.raw_dir,
        out_npz=snakemake.output.npz,
        out_json=snakemake.output.provenance,
        **snakemake.params.settings,
    )
