import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# Rules adopt_keras_weights and adopt_published_weights (training `weights: keras|imagenet`).
with job_log(snakemake):
    from convstudy.jobs import adopt_weights

    adopt_weights.run(
        model=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        seed=int(snakemake.wildcards.seed),
        data_path=snakemake.input.data,
        hyper=snakemake.params.hyper,
        threads=snakemake.threads,
        out_dir=snakemake.output[0],
        device=snakemake.params.device,
        keras_model=snakemake.input.get("keras_model"),
    )
