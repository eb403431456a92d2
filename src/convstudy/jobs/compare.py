"""Rule ``compare``: a route's converted outputs against the original's. Needs numpy only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convstudy.errors import DataError
from convstudy.metrics import compare_outputs
from convstudy.records import ComparisonRecord, PredictionRecord


def run(
    *, original: str | Path, converted: str | Path, converted_record: str | Path, out: str | Path
) -> ComparisonRecord:
    """Compare the outputs of a converted model with its original's; write the record.

    Raises:
        DataError: the two output files are not from the same evaluation inputs (their
            input hashes or labels differ).
    """
    predicted = PredictionRecord.load(converted_record)
    record = ComparisonRecord(
        model=predicted.model,
        framework=predicted.framework,
        seed=predicted.seed,
        format=predicted.target,
        n_eval=predicted.n_eval,
        provenance=predicted.provenance,
    )
    if predicted.status == "error":  # the runtime refused the converted model
        record.status, record.reason = "error", predicted.reason
    elif predicted.status != "ok":
        record.skip(predicted.reason)
    else:
        with np.load(original) as o, np.load(converted) as c:
            hashes = [str(f["inputs_sha256"]) if "inputs_sha256" in f else "" for f in (o, c)]
            if not hashes[0] or hashes[0] != hashes[1]:
                raise DataError(
                    f"{converted}: evaluated on other inputs than {original} "
                    f"(input sha256 {hashes[1] or 'missing'}, expected {hashes[0] or 'missing'})"
                )
            if not np.array_equal(o["labels"], c["labels"]):
                raise DataError(f"{converted}: evaluated on other samples than {original}")
            record.inputs_sha256 = hashes[0]
            record.metrics = compare_outputs(o["outputs"], c["outputs"])
    record.dump(out)
    return record
