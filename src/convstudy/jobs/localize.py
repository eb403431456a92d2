"""Rule ``localize``: where a target route's model diverges from a source route's, and a
repair. Works on any two model folders of one cell that ``convert`` (or ``train``) wrote,
e.g. the RQ1 ``onnx`` and ``onnx+onnx-fp16`` routes.

The first ``scan`` evaluation samples are run through both models; the ``samples`` with
a different top-1 label (then the largest output differences) are the inputs of the
localization, as STUDY.md asks (activations compared on inputs with discrepancies). A
localization or repair that raises is a finding (``error`` record); a hop that was not
converted is ``not_run``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convstudy import registry
from convstudy.conversion import upstream_failure
from convstudy.data import load_prepared
from convstudy.provenance import Provenance
from convstudy.records import LocalizationRecord
from convstudy.spec import ModelSpec

if TYPE_CHECKING:
    from convstudy.localization.comparison.hops import HopDivergence
    from convstudy.localization.io.views import View

logger = logging.getLogger(__name__)


def select(source: np.ndarray, target: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to ``n`` samples: those whose top-1 labels differ first, then the
    largest mean |source - target| (both outputs (N, classes), same order)."""
    s, t = source.reshape(len(source), -1), target.reshape(len(target), -1)
    differ = s.argmax(axis=1) != t.argmax(axis=1)
    error = np.abs(s - t).mean(axis=1)
    order = np.lexsort((-error, ~differ))  # differing first, then by error
    return np.sort(order[:n])


def intermediate_routes(source_route: str, target_route: str) -> list[str]:
    """The routes a chain passes from ``source_route`` to ``target_route``, the target
    included (stage a of STUDY.md Part 2): ``original`` -> ``onnx+onnx-fp16`` passes
    ``onnx`` then ``onnx+onnx-fp16``; a target that does not extend the source is one hop."""
    target = registry.route_formats(target_route) if target_route != registry.ORIGINAL else ()
    if source_route == registry.ORIGINAL:
        start = 0
    else:
        source = registry.route_formats(source_route)
        if tuple(target[: len(source)]) != tuple(source):
            return [target_route]
        start = len(source)
    return [registry.ROUTE_SEP.join(target[: k + 1]) for k in range(start, len(target))] or [
        target_route
    ]


def _prepared(folder: Path, neutral: np.ndarray) -> Callable[[View], np.ndarray]:
    """The samples ``neutral`` as the input of the model of ``folder`` (its spec's layout)."""
    return lambda _view: ModelSpec.load(folder).layout.prepare(neutral)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    source_route: str,
    target_route: str,
    source: str | Path,
    target: str | Path,
    data_path: str | Path,
    settings: Mapping[str, Any],
    threads: int,
    out_dir: str | Path,
) -> LocalizationRecord:
    """Localize and repair the model of folder ``target`` against that of ``source``.

    ``settings``: ``tolerance`` (relative, activations and parameters), ``scan`` (samples
    scanned for discrepancies), ``samples`` (inputs of the localization).
    """
    import onnx

    from convstudy.localization.io.report import figure, markdown
    from convstudy.localization.pipeline import Hop, localize_models

    source, target, out_dir = Path(source), Path(target), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = LocalizationRecord(
        model=model,
        framework=framework,
        seed=seed,
        source_route=source_route,
        target_route=target_route,
        provenance=Provenance.of_job(threads=threads, params=dict(settings)),
    )
    failed = upstream_failure(source) or upstream_failure(target)
    if failed:
        record.skip(f"not converted: {failed}")
        record.dump(out_dir / "localization_record.json")
        return record
    started = time.perf_counter()
    neutral = load_prepared(data_path, ("test",))["x_test"][: int(settings["scan"])]
    routes: list[str] = []

    def choose(source_out: np.ndarray, target_out: np.ndarray) -> np.ndarray:
        differ = source_out.argmax(axis=-1) != target_out.argmax(axis=-1)
        record.disagreement_scanned = float(np.mean(differ))
        return select(source_out, target_out, int(settings["samples"]))

    def found_hops(found: HopDivergence) -> None:
        record.hops = routes
        record.hop_relative = [float(r) for r in found.relative]
        record.first_hop = "" if found.first is None else routes[found.first - 1]

    try:
        routes = intermediate_routes(source_route, target_route)
        result = localize_models(
            source,
            target,
            _prepared(source, neutral),
            _prepared(target, neutral),
            select=choose,
            hops=[
                Hop(route, target.parent / route, _prepared(target.parent / route, neutral))
                for route in routes[:-1]
            ],
            on_hops=found_hops,
            tolerance=float(settings["tolerance"]),
            repair=True,
        )
    except Exception as exc:
        logger.exception("localization of %s against %s failed", target, source)
        record.fail(exc)
        record.dump(out_dir / "localization_record.json")
        return record
    loc, repaired, repair = result.localization, result.repaired, result.repair
    assert repaired is not None and repair is not None
    loc.run.update(source=result.source.describe(), target=result.target.describe())
    loc.to_json(out_dir / "localization.json")
    (out_dir / "report.md").write_text(
        markdown(loc, title=f"{target_route} against {source_route}")
    )
    figure(loc, out_dir / "layers.png")
    if repair.actions:
        onnx.save(repaired, str(out_dir / "repaired.onnx"))
    record.n_inputs = len(result.source_inputs)
    first = loc.first_divergent
    if first is not None:
        record.stage, record.metric, record.op_type = first.stage, first.metric, first.op_type
        record.source_node = first.source_node or ""
        record.target_node = first.target_node or ""
        record.value = _finite(first.value)
    record.repair_success, record.repair_complete = repair.success, repair.complete
    record.repair_actions = len(repair.actions)
    record.disagreement_before = repair.disagreement_before
    record.disagreement_after = repair.disagreement_after
    record.error_before = _finite(repair.error_before)
    record.error_after = _finite(repair.error_after)
    record.reason = repair.reason if first is not None else ""
    record.seconds = round(time.perf_counter() - started, 2)
    record.dump(out_dir / "localization_record.json")
    return record
