"""Rule ``fetch_dataset``: download a dataset's publisher files, checksum-verified."""

from __future__ import annotations

from pathlib import Path

from convstudy.data import fetch_dataset


def run(*, dataset: str, raw_dir: str | Path) -> None:
    """Download every publisher file of ``dataset`` into ``raw_dir``."""
    fetch_dataset(dataset, raw_dir)
