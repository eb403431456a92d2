import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.jobs import attack

    attack.run(
        model=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        seed=int(snakemake.wildcards.seed),
        attack=snakemake.wildcards.get("attack", "boundary"),
        trained=snakemake.input.trained,
        selection=snakemake.input.selection,
        model_outputs=snakemake.input.model_outputs,
        data_path=snakemake.input.data,
        n_test=snakemake.params.n_test,
        settings=snakemake.params.settings,
        # the input function gives a list: [the resolved embedding] for text attacks, []
        embedding=(snakemake.input.get("embedding") or [None])[0],
        threads=snakemake.threads,
        adversarial_out=snakemake.output.adversarial,
        record_out=snakemake.output.record,
        target=snakemake.input.get("target"),
        route=snakemake.wildcards.get("route", "original"),
        replay_out=snakemake.output.get("replay"),
        batch_size=snakemake.params.get("batch_size", 0),
    )
