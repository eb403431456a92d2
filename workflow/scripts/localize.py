import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy import registry
    from convstudy.jobs import localize

    localize.run(
        model=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        seed=int(snakemake.wildcards.seed),
        source_route=snakemake.wildcards.get("base", registry.ORIGINAL),
        target_route=snakemake.wildcards.route,
        source=snakemake.input.source,
        target=snakemake.input.target,
        data_path=snakemake.input.data,
        settings=snakemake.params.settings,
        threads=snakemake.threads,
        out_dir=snakemake.output[0],
    )
