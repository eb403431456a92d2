"""Rule ``predict``: run one model (the original, or a route's converted model) on the
evaluation set.

Writes the raw last-layer outputs (logits) and a record with accuracy, load time and
inference time. A cell whose runtime cannot run here, or whose conversion failed, is
written as ``"status": "not_run"`` with the reason; a converted model that raises in its
runtime (e.g. an onnx2tf graph that gathers out of range) as ``"status": "error"``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import registry, runtimes
from convstudy.data import load_prepared, subset
from convstudy.jobs.convert import upstream_failure
from convstudy.provenance import Provenance
from convstudy.records import PredictionRecord
from convstudy.sizes import size_bytes
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads
from convstudy.timing import run_timed, summary

logger = logging.getLogger(__name__)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    target: str,
    source: str | Path,
    data_path: str | Path,
    evaluation: Mapping[str, Any],
    threads: int,
    outputs_out: str | Path,
    record_out: str | Path,
) -> PredictionRecord:
    """Run the model of folder ``source`` on the evaluation set; write outputs and record."""
    source = Path(source)
    runtime = registry.target_runtime(framework, target)
    arrays = subset(load_prepared(data_path), None, None, evaluation["n_test"])
    labels = arrays["y_test"].astype(np.int64)
    record = PredictionRecord(
        model=model,
        framework=framework,
        seed=seed,
        target=target,
        runtime=runtime.name,
        runtime_version=_version(runtime.packages[0]),
        n_eval=len(labels),
        batch_size=evaluation["batch_size"],
        provenance=Provenance.of_job(threads=threads, params=dict(evaluation)),
    )
    outputs = np.empty((0,), dtype=np.float32)
    failed = upstream_failure(source)
    if failed:
        record.skip(f"not converted: {failed}")
    else:
        spec = ModelSpec.load(source)
        record.size_bytes = size_bytes(source / registry.fmt(spec.format).artifact)
        limit_threads(threads, spec.format if spec.format in registry.FRAMEWORKS else None)
        x = spec.layout.prepare(arrays["x_test"])
        try:
            tic = time.perf_counter()
            predict = runtimes.load(source, threads=threads, spec=spec)
            load_seconds = time.perf_counter() - tic
        except runtimes.NotRunnable as reason:
            record.skip(str(reason))
        except Exception as error:
            if target == registry.ORIGINAL:
                raise
            logger.warning("converted model failed to load in its runtime", exc_info=True)
            record.fail(error)
        else:
            try:
                outputs, times = run_timed(
                    predict,
                    x,
                    batch_size=evaluation["batch_size"],
                    warmup=evaluation["warmup"],
                    repeats=evaluation["repeats"],
                )
            except Exception as error:
                if target == registry.ORIGINAL:
                    raise  # the trained model itself failing is a bug, not a finding
                # a converted model that loads but crashes in its runtime is a finding
                logger.warning("converted model failed in its runtime", exc_info=True)
                record.fail(error)
                np.savez(outputs_out, outputs=outputs, labels=labels)
                record.dump(record_out)
                return record
            outputs = outputs.astype(np.float32)
            stats = summary(times)
            record.accuracy = float(np.mean(outputs.argmax(axis=1) == labels))
            record.load_seconds = load_seconds
            record.inference_seconds = times
            record.inference_median = stats["median"]
            record.inference_iqr = stats["iqr"]
            record.inference_min = stats["min"]
            record.inference_max = stats["max"]
    if record.status == "ok":
        logger.info(
            "%s/%s seed %d %s: accuracy %.4f, inference median %.3f s over %d samples",
            model,
            framework,
            seed,
            target,
            record.accuracy,
            record.inference_median,
            len(labels),
        )
    else:
        logger.warning(
            "%s/%s seed %d %s not run: %s", model, framework, seed, target, record.reason
        )
    np.savez(outputs_out, outputs=outputs, labels=labels)
    record.dump(record_out)
    return record
