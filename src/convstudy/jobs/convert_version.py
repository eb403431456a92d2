"""Rule ``convert_version``: a hop converted by another release of its converter (config
``versions``), from the same source folder as the pinned release's hop.

The release's folder (rule ``converter_env``) goes first on ``sys.path`` before the
converter is imported; the job checks that the release is what Python now finds, and its
conversion record names that version. Everything else is the ``convert`` job's hop.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from convstudy.errors import ConvstudyError
from convstudy.records import ConversionRecord


def activate(env_dir: str | Path, package: str, version: str) -> None:
    """Make the release of ``package`` installed in ``env_dir`` the one Python imports.

    Raises:
        ConvstudyError: the folder does not hold ``package`` ``version``, or the package
            was imported before (its pinned release would be used).
    """
    env_dir = Path(env_dir).resolve()
    try:
        top = metadata.Distribution.at(
            next(env_dir.glob(f"{package.replace('-', '_')}-{version}.dist-info"))
        ).read_text("top_level.txt")
    except StopIteration:
        raise ConvstudyError(f"{env_dir}: no {package} {version} installed there") from None
    names = (top or package.replace("-", "_")).split()
    loaded = [name for name in names if name in sys.modules]
    if loaded:
        raise ConvstudyError(f"{package}: {', '.join(loaded)} imported before its release")
    sys.path.insert(0, str(env_dir))
    importlib.invalidate_caches()
    found = metadata.version(package)
    if found != version:
        raise ConvstudyError(f"{env_dir}: Python finds {package} {found}, not {version}")


def run(
    *,
    package: str,
    version: str,
    env_dir: str | Path,
    model: str,
    framework: str,
    seed: int,
    route: str,
    source: str | Path,
    settings: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
) -> ConversionRecord:
    """Convert the last hop of ``route`` with ``package`` ``version`` into ``out_dir``."""
    activate(env_dir, package, version)
    from convstudy.conversion import convert_hop

    versions = {**settings["versions"], package: version}
    return convert_hop(
        model=model,
        framework=framework,
        seed=seed,
        route=route,
        source=source,
        settings={**settings, "versions": versions},
        threads=threads,
        out_dir=out_dir,
    )
