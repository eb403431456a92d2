"""Gather the records of one kind into one tidy table, with the dataset's provenance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from convstudy import registry
from convstudy.provenance import read_json
from convstudy.records import record_type


def gather_table(
    table: str,
    records: Sequence[str | Path],
    datasets: Sequence[str | Path],
    study_config_hash: str,
) -> pd.DataFrame:
    """The rows of every record of ``table``'s kind, in the order given.

    Each row also gets the dataset of its model, whether that dataset is an exact copy,
    its prepared file's sha256, and the hash of the whole study config.
    """
    kind = record_type(table)
    data = {info["dataset"]: info for info in map(read_json, datasets)}
    frame = pd.DataFrame([row for path in records for row in kind.load(path).rows()])
    if frame.empty:
        return frame
    if "dataset" not in frame:
        frame.insert(0, "dataset", frame["model"].map(lambda name: registry.model(name).dataset))
    dataset = frame["dataset"]
    frame["dataset_exact"] = dataset.map(lambda d: data[d]["exact"])
    frame["dataset_sha256"] = dataset.map(lambda d: data[d]["npz_sha256"])
    frame["study_config_hash"] = study_config_hash
    return frame
