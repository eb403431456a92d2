import sys
from pathlib import Path

# The package of this checkout, whichever environment (pip or --sdm conda) runs the job.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from convstudy.scripting import job_log

# The job is imported inside job_log, which may first restrict imports to what the job's
# conda env provides (CONVSTUDY_CHECK_ENVS=1, see convstudy.envs).
with job_log(snakemake):
    from convstudy.jobs import louloudakis_report

    louloudakis_report.run(
        pairs=list(snakemake.params.pairs),
        comparisons=list(snakemake.input.pairs),
        localizations=list(snakemake.input.localizations),
        trained=list(snakemake.input.trained),
        originals=list(snakemake.input.originals),
        floor=dict(snakemake.params.floor),
        case=dict(snakemake.params.case),
        converted="results/converted",
        out_dir=Path(snakemake.output.pairs).parent,
    )
