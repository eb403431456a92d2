import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

with job_log(snakemake):
    from convstudy.jobs import import_source

    import_source.run(
        name=snakemake.wildcards.source,
        settings=dict(snakemake.params.settings),
        seed=0,
        out_dir=snakemake.output.model,
        inputs_out=snakemake.output.inputs,
    )
