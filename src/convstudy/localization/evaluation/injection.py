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

    python -m convstudy.localization.evaluation.injection [--models lenet5 ...] [--out DIR]
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

from convstudy.localization.comparison.localize import localize
from convstudy.localization.comparison.result import Localization
from convstudy.localization.evaluation.controls import CONTROLS
from convstudy.localization.evaluation.exports import faithful
from convstudy.localization.evaluation.faults import FAULTS
from convstudy.localization.evaluation.planting import NotApplicable, Planted
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


def names_planted(loc: Localization, planted: Planted) -> bool:
    """Whether the first divergence names the planted node or a node of its matched layer."""
    first = loc.first_divergent
    if first is None:
        return False
    if planted.node in (first.target_node, first.source_node):
        return True
    match = loc.match_of(first.target_node) if first.target_node else None
    # a fault that removed the node (a dropped activation) leaves it in the source's layer
    return match is not None and planted.node in (*match.target_nodes, *match.source_nodes)


def _case(
    model: str,
    kind: str,
    name: str,
    source: onnx.ModelProto,
    target: onnx.ModelProto,
    planted: Planted,
    x: np.ndarray,
    x_target: np.ndarray | None = None,
) -> Case:
    started = time.perf_counter()
    x_t = x if x_target is None else x_target
    loc = localize(source, target, x, x_t)
    first = loc.first_divergent
    repaired, before, after, note = False, float("nan"), float("nan"), ""
    if kind == "fault":
        localised = names_planted(loc, planted)
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
    )


def _log(case: Case) -> None:
    print(
        f"{case.model:9s} {case.kind:7s} {case.fault:20s} right={case.localised!s:5s} "
        f"repaired={case.repaired!s:5s} {case.named_stage:15s} {case.seconds:.1f}s",
        flush=True,
    )


def evaluate(models: list[str], seeds: int = 1, only: list[str] | None = None) -> list[Case]:
    """All faults and controls (or those named in ``only``), ``seeds`` placements each,
    over ``models``.

    Faults and controls are planted into the dynamo export; one that has nothing to act on
    there (a BatchNorm epsilon after the exporter folded BatchNorm away) is planted into
    the unoptimised dynamo export instead.
    """
    cases: list[Case] = []
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            ex = faithful(model, Path(tmp))
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


def summary(cases: list[Case]) -> list[dict[str, object]]:
    """Per model: faults localised, controls flagged, faults repaired."""
    rows: list[dict[str, object]] = []
    for model in dict.fromkeys(c.model for c in cases):
        faults = [c for c in cases if c.model == model and c.kind == "fault"]
        controls = [c for c in cases if c.model == model and c.kind == "control"]
        rows.append(
            {
                "model": model,
                "faults": len(faults),
                "localised": sum(c.localised for c in faults),
                "repaired": sum(c.repaired for c in faults),
                "controls": len(controls),
                "false_alarms": sum(not c.localised for c in controls),
            }
        )
    return rows


def markdown(cases: list[Case]) -> str:
    """Per fault or control (rows) and model (columns): right / placements, and for faults
    the complete repairs, as a Markdown table."""
    models = list(dict.fromkeys(c.model for c in cases))
    lines = [
        "| kind | planted | " + " | ".join(models) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in models) + " |",
    ]
    for kind in ("fault", "control"):
        for name in dict.fromkeys(c.fault for c in cases if c.kind == kind):
            cells = []
            for model in models:
                mine = [c for c in cases if c.kind == kind and c.fault == name and c.model == model]
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
    parser.add_argument("--out", type=Path, default=Path("results/localization-eval"))
    args = parser.parse_args(argv)
    cases = evaluate(args.models, args.seeds, args.only)
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
