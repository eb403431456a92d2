import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs); the converter's release
# is put first on sys.path by the job before the converter is imported.
with job_log(snakemake):
    from convstudy.jobs import convert_version

    convert_version.run(
        package=snakemake.wildcards.package,
        version=snakemake.wildcards.version,
        env_dir=snakemake.input.env,
        model=snakemake.wildcards.model,
        framework=snakemake.wildcards.framework,
        seed=int(snakemake.wildcards.seed),
        route=snakemake.wildcards.route,
        source=snakemake.input.source,
        settings=snakemake.params.settings,
        threads=snakemake.threads,
        out_dir=snakemake.output[0],
    )
