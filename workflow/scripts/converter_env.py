import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

with job_log(snakemake):
    from convstudy.jobs import converter_env

    converter_env.run(
        package=snakemake.wildcards.package,
        version=snakemake.wildcards.version,
        out_dir=snakemake.output[0],
    )
