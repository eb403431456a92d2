"""Rule ``prepare_dataset``: verified source files -> one split, model-ready ``.npz``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.data import prepare_dataset


def run(
    *,
    dataset: str,
    local_dir: str | Path | None,
    raw_dir: str | Path,
    settings: Mapping[str, Any],
    out_npz: str | Path,
    out_json: str | Path,
) -> None:
    """Locate, verify, read and split ``dataset`` (see :func:`convstudy.data.prepare_dataset`)."""
    prepare_dataset(
        dataset,
        local_dir=local_dir,
        raw_dir=raw_dir,
        out_npz=out_npz,
        out_json=out_json,
        **settings,
    )
