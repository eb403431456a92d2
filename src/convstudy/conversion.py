"""One hop of a route: a converter turns the model of one folder into a new model folder.

A converter exception is a finding, not a failure: the hop's ``conversion.json`` then
says ``"status": "error"`` with the exception, and the grid goes on. A hop whose source
hop failed is ``not_run`` (:func:`upstream_failure` tells every later job why).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from convstudy import registry
from convstudy.atomic import atomic_output
from convstudy.converters import Converted, NotAvailable
from convstudy.provenance import Provenance
from convstudy.records import ConversionRecord
from convstudy.sizes import size_bytes
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)


class ConverterModule(Protocol):
    """What a converter module provides (see :mod:`convstudy.converters`)."""

    def convert(
        self, source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]
    ) -> Converted:
        """Convert the model of folder ``source`` into artifact ``out``."""


def upstream_failure(source: Path) -> str | None:
    """Why the model folder ``source`` holds no model (its hop did not succeed), or None."""
    if not (source / ConversionRecord.FILE).exists():
        return None
    upstream = ConversionRecord.load(source)
    if upstream.status == "ok":
        return None
    if upstream.route == registry.ORIGINAL:  # a brought model the import refused
        return f"source {upstream.model} refused: {upstream.reason}"
    return f"hop to {upstream.format} {upstream.status}: {upstream.reason}"


def convert_hop(
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
    """Perform the last hop of ``route`` on the model folder ``source`` into ``out_dir``
    (built under a temporary name and renamed into place when complete)."""
    with atomic_output(out_dir, directory=True) as folder:
        return _convert(
            model=model,
            framework=framework,
            seed=seed,
            route=route,
            source=Path(source),
            settings=settings,
            threads=threads,
            out_dir=folder,
        )


def _convert(
    *,
    model: str,
    framework: str,
    seed: int,
    route: str,
    source: Path,
    settings: Mapping[str, Any],
    threads: int,
    out_dir: Path,
) -> ConversionRecord:
    source_format, target = registry.last_hop(framework, route)
    missing = registry.missing_converter(source_format, target)
    record = ConversionRecord(
        model=model,
        framework=framework,
        seed=seed,
        route=route,
        source_format=source_format,
        format=target,
        converter="" if missing else registry.converter(source_format, target).name,
        converter_versions=dict(settings["versions"]),
        settings={key: value for key, value in settings.items() if key != "versions"},
        provenance=Provenance.of_job(threads=threads, params=dict(settings)),
    )
    failed = upstream_failure(source)
    if failed:
        record.skip(f"not reached: {failed}")
        logger.warning("%s: %s", route, record.reason)
        return _write(record, out_dir)
    if missing:
        record.status, record.reason = "error", f"NoConverter: {missing}"
        logger.warning("%s: %s", route, record.reason)
        return _write(record, out_dir)
    entry = registry.converter(source_format, target)
    limit_threads(threads, source_format if source_format in registry.FRAMEWORKS else None)
    spec = ModelSpec.load(source)
    artifact = out_dir / registry.fmt(target).artifact
    converter = cast(ConverterModule, registry.module(entry.module))
    tic = time.perf_counter()
    try:
        converted = converter.convert(source, spec, artifact, settings=settings)
    except NotAvailable as reason:
        record.skip(str(reason))
        logger.warning("%s: %s", route, record.reason)
    except Exception as error:  # noqa: BLE001 -- any converter crash is a result, not a bug
        record.fail(error)
        record.seconds = time.perf_counter() - tic
        logger.warning("conversion failed (recorded as a finding): %s", traceback.format_exc())
    else:
        record.seconds = time.perf_counter() - tic
        record.size_bytes = size_bytes(artifact)
        record.facts = converted.facts
        converted.spec.dump(out_dir)
        logger.info(
            "converted to %s in %.1f s, %d bytes", artifact, record.seconds, record.size_bytes
        )
    return _write(record, out_dir)


def _write(record: ConversionRecord, out_dir: Path) -> ConversionRecord:
    record.dump(out_dir / ConversionRecord.FILE)
    return record
