"""A quick job: one line with the job's wildcard and the time."""

import time
from pathlib import Path

Path(snakemake.output[0]).write_text(f"fast {snakemake.wildcards.i} {time.time()}\n")  # noqa: F821
