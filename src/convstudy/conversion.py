"""One conversion cell: load the trained model, convert it, record what happened.

A converter exception is a finding, not a failure: the cell's ``conversion.json`` then
says ``"status": "error"`` with the exception's class and message, and the grid goes on.
"""

from __future__ import annotations

import csv
import importlib
import logging
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import checkpoints, models
from convstudy.config import NUM_CLASSES
from convstudy.converters import ARTIFACT, family
from convstudy.data import load_prepared, subset
from convstudy.provenance import job_provenance, write_json
from convstudy.sizes import size_bytes
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)

#: The module that converts to each format family.
CONVERTER_MODULE = {
    "onnx": "convstudy.converters.onnx_export",
    "coreml": "convstudy.converters.coreml",
}
#: Samples traced or exported with (the batch dimension stays flexible).
EXAMPLE_BATCH = 2


def convert_cell(
    *,
    model_name: str,
    framework: str,
    fmt: str,
    seed: int,
    dataset: str,
    model_path: str | Path,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    settings: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Convert one trained model to ``fmt`` into ``out_dir``; return the cell's record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    limit_threads(threads, framework)
    fam = family(fmt)
    arrays = subset(load_prepared(data_path), None, None, EXAMPLE_BATCH)
    example = models.to_framework_input(arrays["x_test"], model_name, framework)
    # Keras 3 LSTM/GRU reach CoreML only unrolled (an IndexError in coremltools' While
    # loop otherwise); the unrolled model computes the same function with the same weights.
    unroll = fam == "coreml" and framework == "keras" and models.is_recurrent(model_name)
    model = checkpoints.load(
        model_path,
        name=model_name,
        framework=framework,
        input_shape=tuple(arrays["x_test"].shape[1:]),
        num_classes=NUM_CLASSES[dataset],
        arch=checkpoints.arch_for(model_name, hyper["arch"], arrays),
        unroll=unroll,
    )
    artifact = out_dir / ARTIFACT[fam]
    record: dict[str, Any] = {
        "model": model_name,
        "framework": framework,
        "format": fmt,
        "seed": seed,
        "artifact": artifact.name,
        "converter_versions": dict(settings["converter_versions"]),
        "settings": dict(settings),
        "keras_rnn_unrolled": unroll,
        **job_provenance(
            threads=threads, params={"converter": dict(settings), "hyper": dict(hyper)}
        ),
    }
    converter = importlib.import_module(CONVERTER_MODULE[fam])
    tic = time.perf_counter()
    try:
        facts = converter.convert(
            model, artifact, framework=framework, example=example, settings=settings
        )
    except Exception as error:  # noqa: BLE001 -- any converter crash is a result, not a bug
        record.update(
            status="error",
            error_type=type(error).__name__,
            error_message=str(error).strip().splitlines()[0][:500] if str(error).strip() else "",
            seconds=time.perf_counter() - tic,
            size_bytes=None,
        )
        logger.warning("conversion failed (recorded as a finding): %s", traceback.format_exc())
    else:
        record.update(
            status="ok", seconds=time.perf_counter() - tic, size_bytes=size_bytes(artifact), **facts
        )
        logger.info(
            "converted to %s in %.1f s, %d bytes", artifact, record["seconds"], record["size_bytes"]
        )
        if fam == "coreml":
            _compare_coreml_weights(model, framework, artifact, out_dir / "weights.csv")
    write_json(out_dir / "conversion.json", record)
    return record


def _compare_coreml_weights(model: Any, framework: str, artifact: Path, out_csv: Path) -> None:
    from convstudy import coreml_weights

    rows = coreml_weights.compare(
        models.source_weights(model, framework), coreml_weights.read_weights(artifact)
    )
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["tensor"])
        writer.writeheader()
        writer.writerows(rows)
    matched = sum(row["match"] for row in rows)
    logger.info("CoreML weights read back: %d/%d source tensors match", matched, len(rows))
