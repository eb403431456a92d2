"""One prediction cell: run a model (original or converted) on the evaluation set.

Writes the raw last-layer outputs (logits) and a record with accuracy, load time and
inference time (warm-up, then repeated passes over the evaluation set: median and spread).
A cell whose runtime cannot run here, or whose conversion failed, is written as
``"status": "not_run"`` with the reason.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import checkpoints, models
from convstudy.config import NUM_CLASSES
from convstudy.converters import ARTIFACT, family
from convstudy.data import load_prepared, subset
from convstudy.provenance import job_provenance, read_json, write_json
from convstudy.runtimes import RUNTIME_MODULE, NotRunnable
from convstudy.sizes import size_bytes
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)

#: The distribution that provides each runtime (its version goes into the record).
RUNTIME_PACKAGE = {
    "torch": "torch",
    "keras": "keras",
    "onnx": "onnxruntime",
    "coreml": "coremltools",
}


def run_timed(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    *,
    batch_size: int,
    warmup: int,
    repeats: int,
) -> tuple[np.ndarray, list[float]]:
    """Outputs over ``x`` in batches, and the seconds of each of ``repeats`` timed passes."""

    def one_pass() -> np.ndarray:
        return np.concatenate(
            [predict(x[s : s + batch_size]) for s in range(0, len(x), batch_size)]
        )

    for _ in range(warmup):
        one_pass()
    times, outputs = [], np.empty(0)
    for _ in range(repeats):
        tic = time.perf_counter()
        outputs = one_pass()
        times.append(time.perf_counter() - tic)
    return outputs, times


def predict_cell(
    *,
    model_name: str,
    framework: str,
    target: str,
    seed: int,
    dataset: str,
    source: str | Path,
    data_path: str | Path,
    hyper: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    threads: int,
    outputs_out: str | Path,
    record_out: str | Path,
) -> dict[str, Any]:
    """Run one model on the evaluation set; write its outputs and its record."""
    source = Path(source)
    runtime = framework if target == "original" else family(target)
    limit_threads(threads, framework if target == "original" else None)
    arrays = subset(load_prepared(data_path), None, None, evaluation["n_test"])
    x = models.to_framework_input(arrays["x_test"], model_name, framework)
    y = arrays["y_test"].astype(np.int64)
    record: dict[str, Any] = {
        "model": model_name,
        "framework": framework,
        "target": target,
        "seed": seed,
        "runtime": runtime,
        "runtime_version": _version(RUNTIME_PACKAGE[runtime]),
        "n_eval": len(x),
        "batch_size": evaluation["batch_size"],
        **job_provenance(
            threads=threads, params={"evaluation": dict(evaluation), "hyper": dict(hyper)}
        ),
    }
    model_file = source if target == "original" else source / ARTIFACT[family(target)]
    outputs = np.empty((0,), dtype=np.float32)
    conversion = None if target == "original" else read_json(source / "conversion.json")
    if conversion is not None and conversion["status"] != "ok":
        record.update(
            status="not_run",
            reason=f"conversion failed: {conversion['error_type']}: {conversion['error_message']}",
            size_bytes=None,
        )
    else:
        record["size_bytes"] = size_bytes(model_file)
        module = importlib.import_module(RUNTIME_MODULE[target])
        try:
            tic = time.perf_counter()
            predict = module.load(
                source,
                model_name=model_name,
                framework=framework,
                input_shape=tuple(arrays["x_test"].shape[1:]),
                num_classes=NUM_CLASSES[dataset],
                arch=checkpoints.arch_for(model_name, hyper["arch"], arrays),
                threads=threads,
            )
            load_seconds = time.perf_counter() - tic
        except NotRunnable as reason:
            record.update(status="not_run", reason=str(reason))
        else:
            outputs, times = run_timed(
                predict,
                x,
                batch_size=evaluation["batch_size"],
                warmup=evaluation["warmup"],
                repeats=evaluation["repeats"],
            )
            outputs = outputs.astype(np.float32)
            record.update(
                status="ok",
                reason="",
                accuracy=float(np.mean(outputs.argmax(axis=1) == y)),
                load_seconds=load_seconds,
                inference_seconds=times,
                inference_median=float(np.median(times)),
                inference_iqr=float(np.subtract(*np.percentile(times, [75, 25]))),
                inference_min=float(np.min(times)),
                inference_max=float(np.max(times)),
            )
    if record["status"] == "not_run":
        logger.warning(
            "%s/%s seed %d %s not run: %s", model_name, framework, seed, target, record["reason"]
        )
    else:
        logger.info(
            "%s/%s seed %d %s: accuracy %.4f, inference median %.3f s over %d samples",
            model_name,
            framework,
            seed,
            target,
            record["accuracy"],
            record["inference_median"],
            len(x),
        )
    np.savez(outputs_out, outputs=outputs, labels=y)
    write_json(record_out, record)
    return record


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"
