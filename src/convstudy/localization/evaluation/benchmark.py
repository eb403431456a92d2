"""Time and peak memory of a localization, beside Polygraphy's mark-all comparison.

A seeded ResNet-18 (BatchNorm statistics as if trained) is exported with the study's
``torch.onnx`` converter; the target is the same export with one perturbed layer. On the
same inputs, each tool runs as its own process, whose wall time and peak resident memory
(``wait4``'s ``ru_maxrss``) are recorded:

* ``convstudy localize`` (segmented activations, the default) and with ``--mode all``;
* ``polygraphy run --onnxrt --onnx-outputs mark all``: the source run saving every tensor,
  then the target run comparing every tensor against them (two processes; the time is
  the sum, the memory the larger peak).

    python -m convstudy.localization.evaluation.benchmark [--model resnet18] [--samples 32] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pandas as pd

from convstudy.localization.evaluation.exports import faithful
from convstudy.localization.evaluation.faults import FAULTS

#: Runs a command as its child and prints wall seconds, peak resident KiB and exit status.
#: A small launcher process, because a child's peak (``wait4``'s ``ru_maxrss``) counts the
#: memory of the process it was forked from; this one holds about 10 MiB.
LAUNCHER = """
import os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1], "a"), stderr=subprocess.STDOUT)
_, status, usage = os.wait4(p.pid, 0)
print(time.perf_counter() - t, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB and exit status of ``command`` (Linux ``ru_maxrss``
    is in KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(cwd / "log.txt"), *command],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds, kib, status = done.stdout.split()
    return float(seconds), int(kib) / 1024, int(status)


def _polygraphy(source: Path, target: Path, x: np.ndarray, work: Path) -> list[list[str]]:
    exe = shutil.which("polygraphy", path=str(Path(sys.executable).parent)) or "polygraphy"
    shape = ",".join(map(str, x.shape))
    common = [
        "--onnxrt", "--onnx-outputs", "mark", "all", "--input-shapes", f"x:[{shape}]",
        "--seed", "0", "--val-range", "x:[0,1]",
    ]  # fmt: skip
    saved = str(work / "source_outputs.json")
    return [
        [exe, "run", str(source), *common, "--save-outputs", saved],
        [exe, "run", str(target), *common, "--load-outputs", saved],
    ]


def run(model: str, samples: int, work: Path) -> pd.DataFrame:
    """Localize one faulty pair with each tool; one row per tool."""
    from convstudy.localization.io.inputs import random_inputs

    ex = faithful(model, work)
    source, target = work / "source.onnx", work / "target.onnx"
    onnx.save(ex.dynamo, str(source))
    faulty, planted = FAULTS["weight_noise"](ex.dynamo, np.random.default_rng(3))
    onnx.save(faulty, str(target))
    x = random_inputs(ex.dynamo, samples, seed=0)
    np.save(work / "inputs.npy", x)
    cli = [sys.executable, "-m", "convstudy.cli", "localize", str(source), str(target),
           "--inputs", str(work / "inputs.npy")]  # fmt: skip
    rows = []
    for tool, commands in (
        ("convstudy localize (segments)", [[*cli, "--out", str(work / "seg")]]),
        ("convstudy localize --mode all", [[*cli, "--mode", "all", "--out", str(work / "all")]]),
        ("polygraphy run --onnx-outputs mark all", _polygraphy(source, target, x, work)),
    ):
        measured = [measure(c, work) for c in commands]
        rows.append({
            "tool": tool,
            "model": model,
            "inputs": samples,
            "seconds": round(sum(m[0] for m in measured), 2),
            "peak_mib": round(max(m[1] for m in measured), 1),
            # polygraphy exits 1 when the compared outputs mismatch: the fault was seen
            "exit_status": max(abs(m[2]) for m in measured),
        })  # fmt: skip
    for row, folder in zip(rows, ("seg", "all"), strict=False):
        first = json.loads((work / folder / "localization.json").read_text())["first_divergent"]
        row["planted"], row["named"] = planted.node, first and first["target_node"]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; print the table and write ``localization_benchmark.csv``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("results/localization-benchmark"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = run(args.model, args.samples, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "localization_benchmark.csv", index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
