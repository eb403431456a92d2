"""The ``convstudy`` command: fault localisation and repair on a user's own model pair.

    convstudy localize SOURCE TARGET [--inputs FILE.npy] [--out DIR]
    convstudy repair SOURCE TARGET --out REPAIRED.onnx [--inputs FILE.npy]

SOURCE and TARGET: an ONNX file, a ``.keras`` archive, a SavedModel folder, a ``.tflite``
file, a model folder of this project, or a study PyTorch ``state_dict`` with ``--model NAME``
(see :mod:`convstudy.localization.io.views`). Exit status 0 whether or not a divergence is
found; 2 with one line on standard error for bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convstudy.errors import ConvstudyError

if TYPE_CHECKING:
    from convstudy.localization.io.views import View
    from convstudy.localization.pipeline import PipelineResult

#: Samples drawn when no ``--inputs`` are given.
DEFAULT_SAMPLES = 32


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convstudy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("localize", "name the first layer where TARGET diverges from SOURCE"),
        ("repair", "repair TARGET towards SOURCE and measure the effect"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("source", type=Path, help="the reference model")
        p.add_argument("target", type=Path, help="the converted model")
        p.add_argument("--inputs", type=Path, help=".npy batch in SOURCE's input layout")
        p.add_argument(
            "--samples",
            type=int,
            default=DEFAULT_SAMPLES,
            help=f"random inputs when no --inputs (default {DEFAULT_SAMPLES})",
        )
        p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
        p.add_argument("--model", help="study model name of a state_dict SOURCE or TARGET")
        p.add_argument("--tolerance", type=float, help="relative tolerance of the activations")
        p.add_argument(
            "--mode",
            choices=("segments", "all"),
            default="segments",
            help="segments: bounded memory (default); all: every tensor in one run",
        )
        if name == "localize":
            p.add_argument(
                "--out",
                type=Path,
                default=Path("localization"),
                help="output folder (default ./localization)",
            )
        else:
            p.add_argument("--out", type=Path, required=True, help="the repaired ONNX file")
    return parser


def _inputs(args: argparse.Namespace, source: View) -> np.ndarray:
    """The ``--inputs`` batch, or ``--samples`` random inputs for the source's view."""
    from convstudy.localization.io.inputs import LocalizationError, random_inputs

    if args.inputs is None:
        if args.samples < 1:
            raise LocalizationError(f"--samples must be positive, got {args.samples}")
        return random_inputs(source.model, args.samples, args.seed)
    if not args.inputs.is_file():
        raise LocalizationError(f"--inputs {args.inputs}: no such file")
    try:
        x = np.load(args.inputs, allow_pickle=False)
    except Exception as exc:
        raise LocalizationError(f"--inputs {args.inputs}: not a .npy array ({exc})") from exc
    if not isinstance(x, np.ndarray) or x.ndim < 1 or not x.shape[0]:
        raise LocalizationError(f"--inputs {args.inputs}: expected a non-empty batch")
    return x


def _write_csv(path: Path, rows: Sequence[Any]) -> None:
    dicts = [asdict(r) for r in rows]
    with path.open("w", newline="") as handle:
        if not dicts:
            return
        writer = csv.DictWriter(handle, fieldnames=list(dicts[0]))
        writer.writeheader()
        for row in dicts:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
            )


def _localized(args: argparse.Namespace, *, repair: bool) -> PipelineResult:
    """The localization (and the repair) of the command line's pair on its inputs."""
    from convstudy.localization import TOLERANCE
    from convstudy.localization.pipeline import localize_models

    return localize_models(
        args.source,
        args.target,
        lambda source: _inputs(args, source),
        model_name=args.model,
        tolerance=TOLERANCE if args.tolerance is None else args.tolerance,
        mode=args.mode,
        repair=repair,
    )


def localize_command(args: argparse.Namespace) -> int:
    """``convstudy localize``: JSON, CSV tables, Markdown report and figure in ``--out``."""
    from convstudy.localization import validate
    from convstudy.localization.io.report import figure, markdown

    result = _localized(args, repair=False)
    loc = result.localization
    loc.run.update(
        source=result.source.describe(),
        target=result.target.describe(),
        inputs=str(args.inputs) if args.inputs else f"random, seed {args.seed}",
    )
    document = loc.to_dict()
    validate(document)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "localization.json").write_text(json.dumps(document, indent=2) + "\n")
    for name in ("matches", "parameters", "hyperparameters", "activations"):
        _write_csv(out / f"{name}.csv", getattr(loc, name))
    (out / "report.md").write_text(
        markdown(loc, title=f"Localization: {args.target} against {args.source}")
    )
    figure(loc, out / "layers.png")
    first = loc.first_divergent
    if first is None:
        print(f"equivalent within tolerance; results in {out}")
    else:
        print(
            f"first divergence ({first.stage}): source {first.source_node} -> target "
            f"{first.target_node} ({first.op_type}), {first.metric} = {first.value:.3g}; "
            f"results in {out}"
        )
    return 0


def repair_command(args: argparse.Namespace) -> int:
    """``convstudy repair``: the repaired ONNX model and ``<out>.repair.json`` beside it."""
    import onnx

    from convstudy.localization.repair.result import describe

    localized = _localized(args, repair=True)
    loc, model, result = localized.localization, localized.repaired, localized.repair
    assert model is not None and result is not None
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    report = {"localization": loc.to_dict(), "repair": describe(result)}
    out.with_suffix(".repair.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    verdict = "repaired" if result.success else f"not repaired ({result.reason})"
    print(
        f"{verdict}: disagreement {result.disagreement_before:.2%} -> "
        f"{result.disagreement_after:.2%}, relative error {result.error_before:.3g} -> "
        f"{result.error_after:.3g}; {len(result.actions)} edits; wrote {out}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convstudy`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "localize":
            return localize_command(args)
        return repair_command(args)
    except ConvstudyError as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"convstudy {args.command}: {lines[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
