import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# A brought model's hop is the `convert` job with the model's name and format in place of
# the study's model and framework (its records say so).
with job_log(snakemake):
    from convstudy.jobs import convert

    convert.run(
        model=snakemake.wildcards.source,
        framework=snakemake.params.framework,
        seed=0,
        route=snakemake.wildcards.route,
        source=snakemake.input.source,
        settings=snakemake.params.settings,
        threads=snakemake.threads,
        out_dir=snakemake.output[0],
    )
