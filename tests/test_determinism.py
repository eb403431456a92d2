"""Seeds are wildcards: the same seed gives the same weights, another seed other weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_python

# Retrains the tiny run's LeNet-5 of seed 0 in a fresh process, with the hyperparameters
# and thread count that run recorded, then with seed 1; prints the largest weight
# difference of each to the tiny run's model. Its own process: training switches on
# deterministic kernels. Bit equality needs the same thread count (TensorFlow's parallel
# reductions sum in another order otherwise, about 1e-7 apart).
SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from convstudy import frameworks
from convstudy.jobs import train
from convstudy.records import TrainingRecord

run, out, framework = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
cell = run / f"results/models/lenet5/{framework}/seed0"
record = TrainingRecord.load(cell)

def weights(folder):
    return list(frameworks.adapter(framework).weights(frameworks.load(folder)).values())

for seed in (0, 1):  # before anything starts TensorFlow: train() sets its thread count
    train.run(model="lenet5", framework=framework, seed=seed, data_path=run / "data/prepared/mnist.npz",
              hyper=record.hyper, threads=record.provenance.threads, out_dir=out / f"seed{seed}")
reference = weights(cell)
diffs = {
    seed: max(float(np.max(np.abs(a - b))) for a, b in zip(weights(out / f"seed{seed}"), reference))
    for seed in (0, 1)
}
print(json.dumps(diffs))
"""


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_same_seed_same_weights(tiny_run: Path, tmp_path: Path, framework: str) -> None:
    diffs = json.loads(run_python(SCRIPT, str(tiny_run), str(tmp_path), framework)[-1])
    assert diffs["0"] == 0.0  # bit for bit, as the workflow's own job trained it
    assert diffs["1"] > 1e-3  # another seed: another initialisation and batch order
