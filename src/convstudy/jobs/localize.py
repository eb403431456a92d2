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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import registry
from convstudy.data import load_prepared
from convstudy.jobs.convert import upstream_failure
from convstudy.provenance import Provenance
from convstudy.records import LocalizationRecord
from convstudy.spec import ModelSpec

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
    from convstudy.localization import localize
    from convstudy.localization.comparison.hops import first_divergent_hop
    from convstudy.localization.comparison.runner import run as run_onnx
    from convstudy.localization.io.inputs import adapt
    from convstudy.localization.io.report import figure, markdown
    from convstudy.localization.io.views import open_view, verify
    from convstudy.localization.repair.rounds import repair

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
    arrays = load_prepared(data_path)
    neutral = arrays["x_test"][: int(settings["scan"])]
    try:
        views = [
            open_view(folder, role) for folder, role in ((source, "source"), (target, "target"))
        ]
        xs = [
            adapt(ModelSpec.load(folder).layout.prepare(neutral), view.model, role)
            for folder, view, role in zip(
                (source, target), views, ("source", "target"), strict=True
            )
        ]
        for view, x, role in zip(views, xs, ("source", "target"), strict=True):
            verify(view, role, x)
        outs = [
            run_onnx(view.model, {view.model.graph.input[0].name: x})[0]
            for view, x in zip(views, xs, strict=True)
        ]
        from convstudy.localization.graph.layout import align

        aligned = align(outs[0], outs[1])
        if aligned is None:
            raise ValueError(f"outputs {outs[0].shape} and {outs[1].shape} do not align")
        record.disagreement_scanned = float(
            np.mean(outs[0].argmax(axis=-1) != aligned.argmax(axis=-1))
        )
        chosen = select(outs[0], aligned, int(settings["samples"]))
        x_s, x_t = xs[0][chosen], xs[1][chosen]
        hops = intermediate_routes(source_route, target_route)
        if len(hops) > 1:
            chain = [outs[0][chosen]]
            for route in hops[:-1]:
                folder = target.parent / route
                hop_view = open_view(folder, f"hop {route}")
                x_hop = adapt(
                    ModelSpec.load(folder).layout.prepare(neutral[chosen]), hop_view.model, route
                )
                chain.append(
                    run_onnx(hop_view.model, {hop_view.model.graph.input[0].name: x_hop})[0]
                )
            chain.append(outs[1][chosen])
            found = first_divergent_hop(chain, tolerance=float(settings["tolerance"]))
            record.hops = hops
            record.hop_relative = [float(r) for r in found.relative]
            record.first_hop = "" if found.first is None else hops[found.first - 1]
        loc = localize(
            views[0].model, views[1].model, x_s, x_t, tolerance=float(settings["tolerance"])
        )
        repaired, result = repair(
            views[0].model, views[1].model, loc, source_inputs=x_s, target_inputs=x_t
        )
    except Exception as exc:
        logger.exception("localization of %s against %s failed", target, source)
        record.fail(exc)
        record.dump(out_dir / "localization_record.json")
        return record
    import onnx

    loc.run.update(source=views[0].describe(), target=views[1].describe())
    loc.to_json(out_dir / "localization.json")
    (out_dir / "report.md").write_text(
        markdown(loc, title=f"{target_route} against {source_route}")
    )
    figure(loc, out_dir / "layers.png")
    if result.actions:
        onnx.save(repaired, str(out_dir / "repaired.onnx"))
    record.n_inputs = len(chosen)
    first = loc.first_divergent
    if first is not None:
        record.stage, record.metric, record.op_type = first.stage, first.metric, first.op_type
        record.source_node = first.source_node or ""
        record.target_node = first.target_node or ""
        record.value = _finite(first.value)
    record.repair_success, record.repair_complete = result.success, result.complete
    record.repair_actions = len(result.actions)
    record.disagreement_before = result.disagreement_before
    record.disagreement_after = result.disagreement_after
    record.error_before = _finite(result.error_before)
    record.error_after = _finite(result.error_after)
    record.reason = result.reason if first is not None else ""
    record.seconds = round(time.perf_counter() - started, 2)
    record.dump(out_dir / "localization_record.json")
    return record
