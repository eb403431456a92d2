"""How the attacks' cost grows with the number of inputs and with review length.

Usage: ``python -m convstudy.attack_scaling [--workdir .benchmark]`` after a finished run
of the default study there (``make benchmark``). It runs the study's own ``attack`` job on
that run's trained models (seed 0): FGSM and Boundary on LeNet-5 and ResNet-18 (PyTorch)
for 4, 8 and 16 inputs; the genetic attack on the PyTorch GRU for reviews of 10-40, 41-70
and 71-100 words (4 each; the model sees a review's last 64 tokens, longer ones are cut at
the front). Each (model, attack) is first run once on one input and that run is discarded
(imports, first-call set-up). Inputs are those the original classifies correctly, the
first of each group in evaluation order. Prints a Markdown table and writes it to
``<workdir>/attack_scaling.md``. One job at a time, one thread: per-input numbers are
comparable with the attack cost table of the report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from convstudy import registry
from convstudy.attacks.embedding import RESOLVED_FILE
from convstudy.attacks.runner import attack_cell
from convstudy.grid import attack_settings

IMAGE_SIZES = (4, 8, 16)
TEXT_BINS = ((10, 40), (41, 70), (71, 100))
PER_BIN = 4


def _correct(predictions: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices the original classifies correctly, and the review lengths (text)."""
    with np.load(predictions) as data:
        correct = np.flatnonzero(data["outputs"].argmax(axis=1) == data["labels"])
        words = data.get("words", None)
    return correct, words


def _run(
    workdir: Path, config: Mapping[str, Any], model: str, name: str, indices: np.ndarray, tmp: Path
) -> dict[str, Any]:
    cell = f"{model}/torch/seed0"
    prepared = workdir / config["datasets"]["prepared_dir"]
    dataset = registry.model(model).dataset
    selection = tmp / f"{model}-{name}-{len(indices)}.json"
    selection.write_text(
        json.dumps(
            {
                "indices": [int(i) for i in indices],
                "selected_by": ["original"],
                "not_selecting": {},
                "original_accuracy": None,
                "degenerate": False,
            }
        )
    )
    record = attack_cell(
        model=model,
        framework="torch",
        seed=0,
        attack=name,
        trained=workdir / "results/models" / cell,
        selection=selection,
        model_outputs=workdir / "results/predictions" / cell / "original.npz",
        data_path=prepared / f"{dataset}.npz",
        n_test=config["training"][model]["subset"]["test"],
        settings=attack_settings(config["robustness"], name, dataset),
        threads=1,
        adversarial_out=tmp / "adversarial.npz",
        record_out=tmp / "attack.json",
        # the word embedding the run's attacks used
        embedding=prepared / RESOLVED_FILE if registry.attack(name).embedding else None,
    )
    return {
        "model": model,
        "attack": name,
        "inputs": len(indices),
        "seconds": round(record.seconds or 0.0, 2),
        "seconds_per_input": round(record.seconds_per_input or 0.0, 3),
        "queries_per_input": round(record.queries_per_input or 0.0, 1),
        "success_rate": record.success_rate,
    }


def measure(workdir: Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """The table: one row per (model, attack, input group)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for model in ("lenet5", "resnet18"):
            correct, _ = _correct(workdir / f"results/predictions/{model}/torch/seed0/original.npz")
            for name in ("fgsm", "boundary"):
                _run(workdir, config, model, name, correct[:1], tmp)  # warm-up, discarded
                for n in IMAGE_SIZES:
                    rows.append({**_run(workdir, config, model, name, correct[:n], tmp),
                                 "review_words": ""})  # fmt: skip
        correct, words = _correct(workdir / "results/predictions/gru/torch/seed0/original.npz")
        assert words is not None
        _run(workdir, config, "gru", "genetic", correct[:1], tmp)  # warm-up, discarded
        for low, high in TEXT_BINS:
            chosen = [i for i in correct if low <= words[i] <= high][:PER_BIN]
            rows.append({**_run(workdir, config, "gru", "genetic", np.asarray(chosen), tmp),
                         "review_words": f"{low}-{high}"})  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".benchmark"))
    parser.add_argument(
        "--config", type=Path, default=Path(__file__).parents[2] / "config/config.yaml"
    )
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    table = measure(args.workdir, config).to_markdown(index=False)
    (args.workdir / "attack_scaling.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
