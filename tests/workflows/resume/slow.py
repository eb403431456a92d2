"""A slow job that writes its output in place: 'begin', a pause, then 'end'."""

import time

with open(snakemake.output[0], "w") as out:  # noqa: F821
    out.write("begin\n")
    out.flush()
    time.sleep(snakemake.params.seconds)  # noqa: F821
    out.write("end\n")
