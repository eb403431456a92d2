"""Rule ``replay``: an attack's adversarial set (and its clean inputs) through one target,
the original or a route's converted model, in its runtime (RQ3).

Writes the outputs on both sets; a target that cannot run here (CoreML off macOS) or whose
conversion failed writes ``not_run`` with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from convstudy import attacks, formats, registry
from convstudy.atomic import atomic_output
from convstudy.conversion import upstream_failure
from convstudy.records import describe_exception
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)


def run(
    *, source: str | Path, adversarial: str | Path, threads: int, batch_size: int,
    outputs_out: str | Path,
) -> str:  # fmt: skip
    """Run the model of folder ``source`` on the adversarial set; return the status."""
    source = Path(source)
    data = attacks.load(adversarial)
    status, reason = "ok", ""
    arrays: dict[str, np.ndarray] = {}
    failed = upstream_failure(source)
    if failed:
        status, reason = "not_run", f"not converted: {failed}"
    else:
        spec = ModelSpec.load(source)
        limit_threads(threads, spec.format if spec.format in registry.FRAMEWORKS else None)
        try:
            predict = formats.load(source, threads=threads, spec=spec)
            for name in ("x", "clean"):
                x = spec.layout.prepare(data[name])
                batches = [predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
                arrays[name] = (
                    np.concatenate(batches).astype(np.float32)
                    if batches
                    else np.zeros((0, spec.num_classes), np.float32)
                )
        except formats.NotRunnable as why:
            status, reason = "not_run", str(why)
        except Exception as error:
            if spec.format in registry.FRAMEWORKS:
                raise  # the original model in its own framework: a bug, not a finding
            status, reason = "error", describe_exception(error)  # the runtime refuses it
    if status != "ok":
        logger.warning("not run: %s", reason)
    arrays.update(status=np.array(status), reason=np.array(reason))
    with atomic_output(outputs_out) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
    return status
