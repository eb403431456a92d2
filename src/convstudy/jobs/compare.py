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
        DataError: the two output files are not from the same evaluation samples.
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
    if predicted.status != "ok":
        record.status, record.reason = predicted.status, predicted.reason
    else:
        with np.load(original) as o, np.load(converted) as c:
            if not np.array_equal(o["labels"], c["labels"]):
                raise DataError(f"{converted}: evaluated on other samples than {original}")
            record.metrics = compare_outputs(o["outputs"], c["outputs"])
    record.dump(out)
    return record
