"""Gather every cell's record into tidy CSV tables, one row per cell, with provenance."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convstudy.config import DATASET_OF
from convstudy.provenance import read_json

logger = logging.getLogger(__name__)


def _flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts become prefixed columns (``versions.torch`` -> ``version_torch``)."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key == "versions":
            row.update({f"version_{name}": version for name, version in value.items()})
        elif isinstance(value, Mapping):
            row.update({f"{key}_{name}": inner for name, inner in value.items()})
        elif isinstance(value, list):
            row[key] = ";".join(map(str, value))
        else:
            row[key] = value
    return row


def gather(
    *,
    datasets: Sequence[str],
    training: Sequence[str],
    conversions: Sequence[str],
    predictions: Sequence[str],
    comparisons: Sequence[str],
    study_config_hash: str,
    outputs: Mapping[str, str],
) -> None:
    """Write training, conversions, coreml_weights, predictions and comparisons CSVs."""
    data = {read_json(p)["dataset"]: read_json(p) for p in datasets}

    histories = []
    for path in training:
        info = read_json(path)
        history = pd.read_csv(Path(path).with_name("history.csv"))
        for key in ("model", "framework", "seed", "parameters", "config_hash"):
            history[key] = info[key]
        histories.append(history)
    frames = {"training": pd.concat(histories, ignore_index=True)}

    conversion_records, weight_frames = [], []
    for folder in conversions:
        record = read_json(Path(folder) / "conversion.json")
        conversion_records.append(record)
        weights = Path(folder) / "weights.csv"
        if weights.exists():
            frame = pd.read_csv(weights)
            for key in ("model", "framework", "seed", "format"):
                frame.insert(0, key, record[key])
            weight_frames.append(frame)
    frames["conversions"] = pd.DataFrame([_flatten(r) for r in conversion_records])
    frames["coreml_weights"] = (
        pd.concat(weight_frames, ignore_index=True) if weight_frames else pd.DataFrame()
    )
    frames["predictions"] = pd.DataFrame([_flatten(read_json(p)) for p in predictions])
    frames["comparisons"] = pd.DataFrame([_flatten(read_json(p)) for p in comparisons])

    for name, frame in frames.items():
        if not frame.empty and "model" in frame:
            frame.insert(0, "dataset", frame["model"].map(DATASET_OF))
            frame["dataset_exact"] = frame["dataset"].map(lambda d: data[d]["exact"])
            frame["dataset_sha256"] = frame["dataset"].map(lambda d: data[d]["npz_sha256"])
            frame["study_config_hash"] = study_config_hash
        frame.to_csv(outputs[name], index=False)
        logger.info("%s: %d rows -> %s", name, len(frame), outputs[name])
