"""How close the Boundary attack gets against how many steps it takes: the measurement the
default ``robustness.boundary.steps`` is chosen from.

Usage: ``python -m convstudy.boundary_steps [--workdir .benchmark] [--models lenet5 resnet18]
[--frameworks torch] [--n 100] [--steps 2000]`` after a finished run of the default study
there (``make benchmark``). For each model and framework it runs the study's own
``attack`` job (:func:`convstudy.attacks.runner.attack_cell`, one thread) with ``--steps``
steps on that run's trained model of seed 0, on the first ``--n`` evaluation inputs the
original classifies correctly, and records the attack's trajectory
(:mod:`convstudy.attacks.trace`) at the checkpoints 100, 200, 500, 1000, 2000, ... below
``--steps``: the median L2 and L-infinity distance, the share of inputs whose example lies
within the config's bounds (L-infinity: FGSM's epsilon of the dataset; L2), and the CPU
seconds per input spent so far. One run per cell: the checkpoints are states of that run.
Prints a Markdown table and writes it to ``<workdir>/boundary_steps.md`` (and ``.csv``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from convstudy import registry
from convstudy.attacks.runner import attack_cell
from convstudy.grid import attack_settings

CHECKPOINTS = (100, 200, 500, 1000, 2000, 5000, 10000, 25000)


def trajectory(
    workdir: Path,
    config: Mapping[str, Any],
    model: str,
    framework: str,
    *,
    n: int,
    steps: int,
    tmp: Path,
) -> pd.DataFrame:
    """One cell's trajectory: a row per checkpoint."""
    cell = f"{model}/{framework}/seed0"
    dataset = registry.model(model).dataset
    predictions = workdir / "results/predictions" / cell / "original.npz"
    with np.load(predictions) as data:
        correct = np.flatnonzero(data["outputs"].argmax(axis=1) == data["labels"])
    selection = tmp / f"{model}-{framework}.json"
    selection.write_text(
        json.dumps(
            {
                "indices": [int(i) for i in correct[:n]],
                "selected_by": ["original"],
                "not_selecting": {},
                "original_accuracy": None,
                "degenerate": False,
            }
        )
    )
    settings = {
        **attack_settings(config["robustness"], "boundary", dataset),
        "steps": steps,
        "checkpoints": [c for c in CHECKPOINTS if c < steps],
    }
    record = attack_cell(
        model=model,
        framework=framework,
        seed=0,
        attack="boundary",
        trained=workdir / "results/models" / cell,
        selection=selection,
        model_outputs=predictions,
        data_path=workdir / config["datasets"]["prepared_dir"] / f"{dataset}.npz",
        n_test=len(np.load(predictions)["labels"]),
        settings=settings,
        threads=1,
        adversarial_out=tmp / "adversarial.npz",
        record_out=tmp / "attack.json",
    )
    table = pd.DataFrame(record.facts["trajectory"])
    inputs = record.n
    for norm in ("linf", "l2"):
        if f"k_{norm}" in table:
            table[f"within_{norm}"] = table.pop(f"k_{norm}") / inputs
    table.insert(0, "inputs", inputs)
    table.insert(0, "framework", framework)
    table.insert(0, "model", model)
    table["epsilon_linf"] = settings.get("epsilon_linf")
    table["epsilon_l2"] = settings.get("epsilon_l2")
    return table


def measure(
    workdir: Path,
    config: Mapping[str, Any],
    models: Sequence[str],
    frameworks: Sequence[str],
    *,
    n: int,
    steps: int,
) -> pd.DataFrame:
    """Every cell's trajectory, one table."""
    with tempfile.TemporaryDirectory() as tmp_name:
        return pd.concat(
            [
                trajectory(workdir, config, model, fw, n=n, steps=steps, tmp=Path(tmp_name))
                for model in models
                for fw in frameworks
            ],
            ignore_index=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".benchmark"))
    parser.add_argument(
        "--config", type=Path, default=Path(__file__).parents[2] / "config/config.yaml"
    )
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet18"])
    parser.add_argument("--frameworks", nargs="+", default=["torch"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="default: <workdir>")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    table = measure(args.workdir, config, args.models, args.frameworks, n=args.n, steps=args.steps)
    out = args.out or args.workdir
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "boundary_steps.csv", index=False)
    markdown = table.to_markdown(index=False, floatfmt=".4g")
    (out / "boundary_steps.md").write_text(markdown + "\n")
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
