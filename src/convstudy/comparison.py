"""One comparison cell: original vs converted outputs. Needs numpy only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convstudy.metrics import compare_outputs
from convstudy.provenance import read_json, write_json


def compare_cell(
    *, original: str | Path, converted: str | Path, converted_record: str | Path, out: str | Path
) -> dict[str, Any]:
    """Compare the outputs of a converted model with its original's; write the record."""
    record = read_json(converted_record)
    row: dict[str, Any] = {
        key: record[key]
        for key in ("model", "framework", "target", "seed", "n_eval", "versions", "config_hash")
    }
    row["format"] = row.pop("target")
    if record["status"] != "ok":
        row.update(status="not_run", reason=record["reason"])
    else:
        with np.load(original) as o, np.load(converted) as c:
            if not np.array_equal(o["labels"], c["labels"]):
                raise ValueError(f"{converted}: evaluated on other samples than {original}")
            row.update(status="ok", reason="", **compare_outputs(o["outputs"], c["outputs"]))
    write_json(out, row)
    return row
