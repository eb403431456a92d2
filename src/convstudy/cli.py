"""The ``convstudy`` command: fault localisation and repair on a user's own model pair.

    convstudy localize SOURCE TARGET [--inputs FILE.npy] [--out DIR]
    convstudy repair SOURCE TARGET --out REPAIRED.onnx [--inputs FILE.npy]

SOURCE and TARGET: an ONNX file, a ``.keras`` archive, a SavedModel folder, a ``.tflite``
file, a model folder of this project, or a study PyTorch ``state_dict`` with ``--model NAME``
(see :mod:`convstudy.localization.io.views`). Exit status 0 whether or not a divergence is
found; 2 with one line on standard error for bad input, refused before any work starts
(missing or non-finite inputs, a batch over :data:`~convstudy.batch.MAX_BATCH_BYTES`, an
``--out`` that cannot be written) and with nothing written. The libraries' own output
(TensorFlow's logs, deprecation warnings) is shown only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from convstudy.errors import ConvstudyError
from convstudy.localization.comparison.difference import TOLERANCE

if TYPE_CHECKING:
    from convstudy.localization.io.views import View
    from convstudy.localization.pipeline import PipelineResult

#: Samples drawn when no ``--inputs`` are given.
DEFAULT_SAMPLES = 32


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one line, like every other refusal."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _count(text: str) -> int:
    """A whole number, also written as ``1e3``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number: {text}")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convstudy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
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
            type=_count,
            default=DEFAULT_SAMPLES,
            help=f"random inputs when no --inputs (default {DEFAULT_SAMPLES})",
        )
        p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
        p.add_argument("--model", help="study model name of a state_dict SOURCE or TARGET")
        p.add_argument(
            "--tolerance",
            type=float,
            help=f"relative tolerance of the activations and the outputs: a layer diverges "
            f"when mean |s - t| exceeds it times mean |s| (default {TOLERANCE:g}; a quantized "
            "model's expected error raises it per layer)",
        )
        p.add_argument(
            "--parameter-tolerance",
            type=float,
            help="relative tolerance of the parameters: a weight or bias tensor diverges when "
            "the mean |s - t| or its largest element exceeds it times mean |s| (beyond the "
            "grid step of a quantized weight); default: --tolerance",
        )
        p.add_argument(
            "--mode",
            choices=("segments", "all"),
            default="segments",
            help="segments: bounded memory (default); all: every tensor in one run",
        )
        p.add_argument(
            "--verbose", action="store_true", help="show the libraries' own logs and warnings"
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
    from convstudy.localization.io.inputs import random_inputs

    if args.inputs is None:
        return random_inputs(source.model, args.samples, args.seed)
    return args.batch if "batch" in args else _read_inputs(args.inputs)


def _read_inputs(path: Path) -> np.ndarray:
    """The ``--inputs`` file: a non-empty ``.npy`` batch of finite numbers, its size checked
    from its header before it is read."""
    from convstudy.batch import oversized
    from convstudy.localization.io.inputs import LocalizationError, check_finite

    if not path.is_file():
        raise LocalizationError(f"--inputs {path}: no such file")
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)
        refused = oversized(header.shape, header.dtype)
        if refused:
            raise LocalizationError(f"--inputs {path}: {refused}")
        x = np.array(header)
    except LocalizationError:
        raise
    except Exception as exc:
        raise LocalizationError(f"--inputs {path}: not a .npy array ({exc})") from exc
    if not isinstance(x, np.ndarray) or x.ndim < 1 or not x.shape[0]:
        raise LocalizationError(f"--inputs {path}: expected a non-empty batch")
    if not np.issubdtype(x.dtype, np.number):
        raise LocalizationError(f"--inputs {path}: expected numbers, got {x.dtype}")
    check_finite(x, f"--inputs {path}")
    return x


def _check(args: argparse.Namespace, *, repair: bool) -> None:
    """Everything about the command line that can be refused before any work starts."""
    from convstudy.localization.io.inputs import LocalizationError
    from convstudy.localization.io.outputs import output_file, output_folder

    if args.inputs is None and args.samples < 1:
        raise LocalizationError(f"--samples must be positive, got {args.samples}")
    for role in ("source", "target"):
        path: Path = getattr(args, role)
        if not path.exists():
            raise LocalizationError(f"{role} model {path}: no such file or folder")
    for flag, value in (
        ("--tolerance", args.tolerance),
        ("--parameter-tolerance", args.parameter_tolerance),
    ):
        if value is not None and not value > 0:
            raise LocalizationError(f"{flag} must be positive, got {value}")
    if args.inputs is not None:
        args.batch = _read_inputs(args.inputs)  # read once, before the models
    if repair:
        output_file(args.out)
    else:
        output_folder(args.out)


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
    from convstudy.localization.pipeline import localize_models

    _check(args, repair=repair)
    return localize_models(
        args.source,
        args.target,
        lambda source: _inputs(args, source),
        model_name=args.model,
        tolerance=TOLERANCE if args.tolerance is None else args.tolerance,
        parameter_tolerance=args.parameter_tolerance,
        mode=args.mode,
        repair=repair,
    )


def localize_command(args: argparse.Namespace) -> int:
    """``convstudy localize``: JSON, CSV tables, Markdown report and figure in ``--out``."""
    from convstudy.localization import validate
    from convstudy.localization.io.report import figure, markdown, verdict

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
    print(f"{verdict(loc)}; results in {out}")
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
    from convstudy.chatter import silenced

    args = _parser().parse_args(argv)
    try:
        with silenced(not args.verbose):
            if args.command == "localize":
                return localize_command(args)
            return repair_command(args)
    except ConvstudyError as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"convstudy {args.command}: {lines[0]}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            f"convstudy {args.command}: out of memory (inputs or model too large for this "
            "machine; fewer --samples may fit)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
