"""Rule ``predict``: run one model (the original, or a route's converted model) on the
evaluation set.

Writes the raw last-layer outputs (logits) with the hash of the inputs they came from, and
a record with accuracy, non-finite outputs, load time and inference time (each repeated:
warm-up, then median and IQR of the repeats), the thread counts read back from the runtime
and the host's CPU. A cell whose runtime cannot run here, or whose conversion failed, is
written as ``"status": "not_run"`` with the reason; a converted model that its runtime
refuses or that raises in it (e.g. an onnx2tf graph that gathers out of range) as
``"status": "error"`` with the runtime's message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import formats, metrics, registry
from convstudy.atomic import atomic_output
from convstudy.conversion import upstream_failure
from convstudy.data import load_prepared, subset
from convstudy.provenance import Provenance
from convstudy.quiet import quiet_window
from convstudy.records import PredictionRecord
from convstudy.sizes import size_bytes, weights_bytes
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads
from convstudy.timing import load_timed, run_timed, summary

logger = logging.getLogger(__name__)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def inputs_hash(x: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of the evaluation inputs (framework-neutral form) and labels."""
    digest = hashlib.sha256()
    for array in (x, labels):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


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
    device: str = "cpu",
) -> PredictionRecord:
    """Run the model of folder ``source`` on the evaluation set; write outputs and record.
    ``device`` (the config's) applies to runtimes that can choose one (the frameworks)."""
    source = Path(source)
    runtime = registry.target_runtime(framework, target)
    arrays = subset(load_prepared(data_path, ("test",)), None, None, evaluation["n_test"])
    labels = arrays["y_test"].astype(np.int64)
    digest = inputs_hash(arrays["x_test"], labels)
    settings = dict(evaluation.get("runtime", {}))
    record = PredictionRecord(
        model=model,
        framework=framework,
        seed=seed,
        target=target,
        runtime=runtime.name,
        runtime_version=_version(runtime.packages[0]),
        n_eval=len(labels),
        batch_size=evaluation["batch_size"],
        inputs_sha256=digest,
        runtime_settings=settings,
        provenance=Provenance.of_job(threads=threads, params=dict(evaluation)),
    )
    outputs = np.empty((0,), dtype=np.float32)
    failed = upstream_failure(source)
    if failed:
        record.skip(f"not converted: {failed}")
    else:
        spec = ModelSpec.load(source)
        artifact = source / registry.fmt(spec.format).artifact
        record.size_bytes = size_bytes(artifact)
        record.weights_bytes = weights_bytes(artifact)
        record.device = formats.use_device(spec, device)
        limit_threads(threads, spec.format if spec.format in registry.FRAMEWORKS else None)
        x = spec.layout.prepare(arrays["x_test"])
        quiet = bool(evaluation.get("quiet"))
        window = quiet_window() if quiet else contextlib.nullcontext(None)

        def load() -> formats.Predict:
            return formats.load(source, threads=threads, spec=spec, settings=settings)

        try:
            if quiet:
                load()  # the runtime's import and first use, before the other jobs pause
            with window as paused:
                predict, load_times = load_timed(
                    load,
                    warmup=evaluation["warmup"],
                    repeats=evaluation["repeats"],
                )
                outputs, times = run_timed(
                    predict,
                    x,
                    batch_size=evaluation["batch_size"],
                    warmup=evaluation["warmup"],
                    repeats=evaluation["repeats"],
                )
            record.paused_jobs = paused
        except formats.NotRunnable as reason:
            record.skip(str(reason))
        except Exception as error:
            if target == registry.ORIGINAL:
                raise  # the trained model in its own framework: a bug, not a finding
            # the runtime refuses the converted model (invalid graph, unsupported op):
            # a finding, recorded with the runtime's message
            record.fail(error)
            outputs = np.empty((0,), dtype=np.float32)
        else:
            outputs = outputs.astype(np.float32)
            stats, load_stats = summary(times), summary(load_times)
            if (labels >= 0).all():  # a brought model's inputs have no labels (-1)
                record.accuracy = metrics.accuracy(outputs, labels)
            record.nonfinite_samples = int(np.sum(~metrics.finite_rows(outputs)))
            record.load_seconds = load_times
            record.load_median = load_stats["median"]
            record.load_iqr = load_stats["iqr"]
            record.thread_counts = formats.thread_counts(spec, predict)
            record.inference_seconds = times
            record.inference_median = stats["median"]
            record.inference_iqr = stats["iqr"]
            record.inference_min = stats["min"]
            record.inference_max = stats["max"]
    if record.status == "ok":
        logger.info(
            "%s/%s seed %d %s: accuracy %.4f, %d non-finite, load median %.3f s, "
            "inference median %.3f s over %d samples",
            model,
            framework,
            seed,
            target,
            record.accuracy,
            record.nonfinite_samples,
            record.load_median,
            record.inference_median,
            len(labels),
        )
    else:
        logger.warning(
            "%s/%s seed %d %s not run: %s", model, framework, seed, target, record.reason
        )
    # text: each review's full length in words, for the attack selection (a file prepared
    # before the lengths were stored: the words the model sees, padding excluded)
    words = (
        {"words": arrays.get("words_test", np.count_nonzero(arrays["x_test"], axis=1))}
        if arrays["x_test"].ndim == 2
        else {}
    )
    with atomic_output(outputs_out) as tmp:
        np.savez(tmp, outputs=outputs, labels=labels, inputs_sha256=np.array(digest), **words)
    record.dump(record_out)
    return record
