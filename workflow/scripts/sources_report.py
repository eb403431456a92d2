import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

with job_log(snakemake):
    from convstudy.jobs import sources_report

    sources_report.run(
        paths=list(snakemake.input.paths),
        out_dir=Path(snakemake.output.csv).parent,
        sources=list(snakemake.params.sources),
    )
