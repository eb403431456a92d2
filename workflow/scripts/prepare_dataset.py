import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log, local_data_dir

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.jobs import prepare_dataset

    prepare_dataset.run(
        dataset=snakemake.params.dataset,
        local_dir=local_data_dir(snakemake),
        raw_dir=snakemake.params.raw_dir,
        settings=snakemake.params.settings,
        out_npz=snakemake.output.npz,
        out_json=snakemake.output.provenance,
    )
