"""Fault-injection evaluation: plant each known fault and control into faithful converted
models of the study, localize, repair, and count.

For each model, a seeded study model is built in PyTorch and exported with the study's
``torch.onnx`` converter (dynamo, opset 18): the faithful target. Every fault of
:data:`~convstudy.localization.evaluation.faults.FAULTS` is planted into a copy, every
control of :data:`~convstudy.localization.evaluation.controls.CONTROLS` rewrites a copy,
and the legacy TorchScript export of the same weights is one more control (a real
converter's equivalent rewrite: BatchNorm folded, other node names). A fault is
*localised* when the first divergence names the planted node or a node of the matched
layer that contains it (in the target, or in the source when the fault removed it); a
control is a *false alarm* when any divergence is reported. Faults are repaired and the repair is
*complete* when the disagreement is back to at most 0.1%.

With ``--targets``, the same faults and controls are planted into converted targets of the
faithful export made with the real tools (:mod:`.targets`: quantized TFLite and ONNX
models, an onnx2tf SavedModel), each seen through its format's verified view and compared
with the float export on real test images; the converted target itself is one more
control (its quantization is expected error, not a fault). A planted fault that leaves the
target's outputs unchanged is not counted (a ReLU dropped before a quantizer that clamps
at zero changes nothing).

    python -m convstudy.localization.evaluation.injection [--models lenet5 ...]
        [--targets onnx tflite-int8 ... | all] [--data-dir DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from convstudy import registry
from convstudy.data.sources import resolve_local_dir
from convstudy.localization.comparison.localize import localize
from convstudy.localization.comparison.result import Localization
from convstudy.localization.comparison.runner import run
from convstudy.localization.evaluation import targets
from convstudy.localization.evaluation.controls import CONTROLS
from convstudy.localization.evaluation.exports import SAMPLES, Exports, faithful
from convstudy.localization.evaluation.faults import FAULTS
from convstudy.localization.evaluation.planting import NotApplicable, Planted
from convstudy.localization.io.inputs import adapt, input_names
from convstudy.localization.repair.rounds import repair


@dataclass
class Case:
    """One planted fault or control and what the localization and repair made of it."""

    model: str
    kind: str
    fault: str
    planted_node: str
    named_stage: str
    named_node: str
    localised: bool
    repaired: bool
    disagreement_before: float
    disagreement_after: float
    seconds: float
    note: str = ""
    target: str = "onnx"


def names_planted(
    loc: Localization, planted: Planted, target: onnx.ModelProto | None = None
) -> bool:
    """Whether the first divergence names the planted node or a node of its matched layer.

    A fault that removed the node (a dropped activation) leaves it in the source's layer
    when both models share node names; otherwise (``target`` given, a converted target) in
    the layer whose nodes feed it through connectors.
    """
    first = loc.first_divergent
    if first is None:
        return False
    if planted.node in (first.target_node, first.source_node):
        return True
    match = loc.match_of(first.target_node) if first.target_node else None
    if match is None:
        return False
    if planted.node in (*match.target_nodes, *match.source_nodes):
        return True
    return target is not None and _fed_by(target, planted.node, set(match.target_nodes))


def _fed_by(model: onnx.ModelProto, node: str, layer: set[str]) -> bool:
    """Whether node ``node`` reads, through connectors only, a tensor of a node of ``layer``."""
    from convstudy.localization.graph.onnx_graph import GraphView
    from convstudy.localization.graph.roles import CONNECTORS

    view = GraphView(model)
    try:
        index = view.index_of(node)
    except ValueError:
        return False
    for _ in range(len(view.nodes)):
        inputs = view.data_inputs(index)
        if not inputs or inputs[0] not in view.producer:
            return False
        index = view.producer[inputs[0]]
        if view.label(index) in layer:
            return True
        if view.nodes[index].op_type not in CONNECTORS:
            return False
    return False


def _case(
    model: str,
    kind: str,
    name: str,
    source: onnx.ModelProto,
    target: onnx.ModelProto,
    planted: Planted,
    x: np.ndarray,
    x_target: np.ndarray | None = None,
    target_format: str = "onnx",
) -> Case:
    started = time.perf_counter()
    x_t = x if x_target is None else x_target
    loc = localize(source, target, x, x_t)
    first = loc.first_divergent
    repaired, before, after, note = False, float("nan"), float("nan"), ""
    if kind == "fault":
        localised = names_planted(loc, planted, None if target_format == "onnx" else target)
        _, result = repair(source, target, loc, source_inputs=x, target_inputs=x_t)
        repaired = result.complete
        before, after, note = result.disagreement_before, result.disagreement_after, result.reason
    else:
        localised = first is None  # a control is right when nothing is reported
    return Case(
        model=model,
        kind=kind,
        fault=name,
        planted_node=planted.node,
        named_stage="-" if first is None else first.stage,
        named_node="-" if first is None else str(first.target_node or first.source_node),
        localised=localised,
        repaired=repaired,
        disagreement_before=before,
        disagreement_after=after,
        seconds=round(time.perf_counter() - started, 2),
        note=note,
        target=target_format,
    )


def _log(case: Case) -> None:
    print(
        f"{case.model:9s} {case.target:18s} {case.kind:7s} {case.fault:20s} "
        f"right={case.localised!s:5s} "
        f"repaired={case.repaired!s:5s} {case.named_stage:15s} {case.seconds:.1f}s",
        flush=True,
    )


def evaluate(
    models: list[str],
    seeds: int = 1,
    only: list[str] | None = None,
    targets: tuple[str, ...] = ("onnx",),
    data_dir: Path | None = None,
) -> list[Case]:
    """All faults and controls (or those named in ``only``), ``seeds`` placements each,
    over ``models`` and ``targets`` ("onnx": the dynamo export; others: :mod:`.targets`,
    calibrated and evaluated on real images of ``data_dir``).

    Faults and controls are planted into the dynamo export; one that has nothing to act on
    there (a BatchNorm epsilon after the exporter folded BatchNorm away) is planted into
    the unoptimised dynamo export instead.
    """
    cases: list[Case] = []
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            ex = faithful(model, Path(tmp))
            if "onnx" in targets:
                cases += _float_cases(model, ex, seeds, only)
            converted = [t for t in targets if t != "onnx"]
            if converted and registry.model(model).kind != "image":
                print(f"{model}: converted targets are built for image models only", flush=True)
                converted = []
            for kind in converted:
                cases += _converted_cases(model, kind, ex, Path(tmp), seeds, only, data_dir)
    return cases


def _no_effect(model: str, target: str, name: str, planted: Planted) -> Case:
    """The record of a planted fault that left the target's outputs as they were."""
    return Case(
        model=model,
        kind="no_effect",
        fault=name,
        planted_node=planted.node,
        named_stage="-",
        named_node="-",
        localised=False,
        repaired=False,
        disagreement_before=0.0,
        disagreement_after=0.0,
        seconds=0.0,
        note="outputs unchanged: the graph computes the same function with it",
        target=target,
    )


def _float_cases(model: str, ex: Exports, seeds: int, only: list[str] | None) -> list[Case]:
    cases: list[Case] = []
    x = ex.x_torch
    for name, other, x_other in (
        ()
        if only
        else (
            ("torchscript_export", ex.torchscript, x),
            ("unoptimised_export", ex.unfolded, x),
            ("tf2onnx_keras_copy", ex.keras, ex.x_keras),
        )
    ):
        real = Planted(name, "-", "a real converter's export of the same weights")
        cases.append(_case(model, "control", name, ex.dynamo, other, real, x, x_other))
        _log(cases[-1])
    for kind, table in (("fault", FAULTS), ("control", CONTROLS)):
        for name, plant in table.items():
            if only and name not in only:
                continue
            for seed in range(seeds):
                for source in (ex.dynamo, ex.unfolded):
                    try:
                        target, planted = plant(source, np.random.default_rng(seed))
                    except NotApplicable:
                        continue
                    cases.append(_case(model, kind, name, source, target, planted, x))
                    _log(cases[-1])
                    break
    return cases


def _converted_cases(
    model: str,
    kind: str,
    ex: Exports,
    folder: Path,
    seeds: int,
    only: list[str] | None,
    data_dir: Path | None,
) -> list[Case]:
    """Faults and controls planted into the converted target ``kind`` of the export."""
    from convstudy.localization.io.views import open_view, verify

    if data_dir is None:
        raise ValueError("converted targets need the dataset copy (--data-dir)")
    calibration = targets.real_images(model, data_dir, 0, targets.CALIBRATION)
    images = targets.real_images(model, data_dir, targets.CALIBRATION, SAMPLES)
    view = open_view(targets.make(kind, folder, calibration), "target")
    x = adapt(images, ex.dynamo, "source")
    x_view = adapt(images, view.model, "target")
    verify(view, "target", x_view)
    converted, baseline = view.model, run(view.model, {input_names(view.model)[0]: x_view})[0]
    cases: list[Case] = []
    if not only:
        itself = Planted(kind, "-", "the converted target itself")
        cases.append(_case(model, "control", kind, ex.dynamo, converted, itself, x, x_view, kind))
        _log(cases[-1])
    for case_kind, table in (("fault", FAULTS), ("control", CONTROLS)):
        for name, plant in table.items():
            if only and name not in only:
                continue
            for seed in range(seeds):
                try:
                    planted_model, planted = plant(converted, np.random.default_rng(seed))
                except NotApplicable:
                    continue
                if case_kind == "fault":
                    out = run(planted_model, {input_names(planted_model)[0]: x_view})[0]
                    if np.array_equal(out, baseline):  # no effect in this graph: no fault
                        cases.append(_no_effect(model, kind, name, planted))
                        continue
                cases.append(
                    _case(
                        model, case_kind, name, ex.dynamo, planted_model, planted, x, x_view, kind
                    )
                )
                _log(cases[-1])
    return cases


def summary(cases: list[Case]) -> list[dict[str, object]]:
    """Per model and target: faults localised, controls flagged, faults repaired."""
    rows: list[dict[str, object]] = []
    for model, target in dict.fromkeys((c.model, c.target) for c in cases):
        mine = [c for c in cases if c.model == model and c.target == target]
        faults = [c for c in mine if c.kind == "fault"]
        controls = [c for c in mine if c.kind == "control"]
        rows.append(
            {
                "model": model,
                "target": target,
                "faults": len(faults),
                "localised": sum(c.localised for c in faults),
                "repaired": sum(c.repaired for c in faults),
                "controls": len(controls),
                "false_alarms": sum(not c.localised for c in controls),
                "no_effect": sum(c.kind == "no_effect" for c in mine),
            }
        )
    return rows


def markdown(cases: list[Case]) -> str:
    """Per fault or control (rows) and model and target (columns): right / placements, and
    for faults the complete repairs, as a Markdown table."""
    columns = list(dict.fromkeys((c.model, c.target) for c in cases))
    heads = [m if t == "onnx" else f"{m} {t}" for m, t in columns]
    lines = [
        "| kind | planted | " + " | ".join(heads) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for kind in ("fault", "control"):
        names = dict.fromkeys(
            c.fault if c.fault != c.target else "converted target itself"
            for c in cases
            if c.kind == kind
        )
        for name in names:
            cells = []
            for model, target in columns:
                mine = [
                    c
                    for c in cases
                    if c.kind == kind
                    and (
                        c.fault == name
                        or (name == "converted target itself" and c.fault == c.target)
                    )
                    and c.model == model
                    and c.target == target
                ]
                if not mine:
                    cells.append("-")
                    continue
                right = sum(c.localised for c in mine)
                text = f"{right}/{len(mine)}"
                if kind == "fault":
                    text += f" ({sum(c.repaired for c in mine)} repaired)"
                cells.append(text)
            lines.append(f"| {kind} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the evaluation and write ``cases.csv`` and ``summary.csv``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["lenet5", "resnet18", "vgg16", "lstm", "gru"]
    )
    parser.add_argument("--seeds", type=int, default=1, help="placements per fault")
    parser.add_argument("--only", nargs="+", help="these faults and controls only")
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["onnx"],
        choices=["onnx", *targets.TARGETS, "all"],
        help="what to plant into: the float ONNX export (default), converted targets "
        "(image models only), or all of them",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=resolve_local_dir(None),
        help="the dataset copy of the calibration and evaluation images of converted "
        "targets (default $CONVSTUDY_DATA_DIR)",
    )
    parser.add_argument("--out", type=Path, default=Path("results/localization-eval"))
    args = parser.parse_args(argv)
    chosen = ("onnx", *targets.TARGETS) if "all" in args.targets else tuple(args.targets)
    cases = evaluate(args.models, args.seeds, args.only, chosen, args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("cases", [asdict(c) for c in cases]), ("summary", summary(cases))):
        with (args.out / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (args.out / "table.md").write_text(markdown(cases))
    for row in summary(cases):
        print(row)


if __name__ == "__main__":
    main()
