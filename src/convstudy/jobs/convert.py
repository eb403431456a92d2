"""Rule ``convert``: one hop of a route, from the previous model folder to a new one
(:func:`convstudy.conversion.convert_hop`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.conversion import convert_hop
from convstudy.records import ConversionRecord


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    route: str,
    source: str | Path,
    settings: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
) -> ConversionRecord:
    """Perform the last hop of ``route`` on the model folder ``source`` into ``out_dir``."""
    return convert_hop(
        model=model,
        framework=framework,
        seed=seed,
        route=route,
        source=source,
        settings=settings,
        threads=threads,
        out_dir=out_dir,
    )
