import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.jobs import import_model, train

    cell = {
        "model": snakemake.wildcards.model,
        "framework": snakemake.wildcards.framework,
        "seed": int(snakemake.wildcards.seed),
        "data_path": snakemake.input.data,
        "hyper": snakemake.params.hyper,
        "threads": snakemake.threads,
        "out_dir": snakemake.output[0],
        "device": snakemake.params.device,
    }
    if snakemake.input.get("checkpoint"):  # config imported_models: no training
        import_model.run(checkpoint=snakemake.input.checkpoint[0], **cell)
    else:
        train.run(**cell)
