"""Seeds are wildcards: the same seed gives the same weights, another seed other weights;
and a trained model's conversion and predictions are the same numbers in every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_python
from helpers import model_folder, neutral_inputs

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

run, out, model, framework = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
cell = run / f"results/models/{model}/{framework}/seed0"
record = TrainingRecord.load(cell)

def weights(folder):
    return list(frameworks.adapter(framework).weights(frameworks.load(folder)).values())

for seed in (0, 1):  # before anything starts TensorFlow: train() sets its thread count
    train.run(model=model, framework=framework, seed=seed,
              data_path=run / f"data/prepared/{record.dataset}.npz", hyper=record.hyper,
              threads=record.provenance.threads, out_dir=out / f"seed{seed}")
reference = weights(cell)
diffs = {
    seed: max(float(np.max(np.abs(a - b))) for a, b in zip(weights(out / f"seed{seed}"), reference))
    for seed in (0, 1)
}
print(json.dumps(diffs))
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lenet5", "gru"])
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_same_seed_same_weights(tiny_run: Path, tmp_path: Path, model: str, framework: str) -> None:
    diffs = json.loads(run_python(SCRIPT, str(tiny_run), str(tmp_path), model, framework)[-1])
    assert diffs["0"] == 0.0  # bit for bit, as the workflow's own job trained it
    assert diffs["1"] > 1e-3  # another seed: another initialisation and batch order


# Converts a Keras model folder to ONNX with the study's converter (tf2onnx) and writes the
# Keras model's and onnxruntime's outputs on fixed inputs, with one thread, as the
# prediction jobs run them.
CONVERT = """
import sys
from pathlib import Path
import numpy as np
from convstudy.threads import limit_threads
limit_threads(1, "keras")
from convstudy import frameworks
from convstudy.formats import onnx
from convstudy.converters import tf2onnx
from convstudy.spec import ModelSpec

folder, out, x = Path(sys.argv[1]), Path(sys.argv[2]), np.load(sys.argv[3])
spec = ModelSpec.load(folder)
keras_outputs = frameworks.adapter("keras").predictor(frameworks.load(folder, spec))(x)
out.mkdir(parents=True)
tf2onnx.convert(folder, spec, out / "model.onnx", settings={"opset": 15})
onnx_outputs = onnx.load(out / "model.onnx", spec, threads=1)(x)
np.savez(out / "outputs.npz", keras=keras_outputs, onnx=onnx_outputs)
"""


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_keras_rnn_to_onnx_gives_the_same_numbers_in_every_run(tmp_path: Path, model: str) -> None:
    # Table II's Keras RNN -> ONNX cells are errors of 1e-8 (probabilities): any change of
    # the Keras outputs or of the converted graph's arithmetic shows there. tf2onnx names
    # the constants it merges after Python's string hashing, so the ONNX file differs from
    # run to run (PYTHONHASHSEED), but not its arithmetic: both runtimes' outputs must be
    # bit for bit the same. Across machines they need not be: TensorFlow's matrix products
    # use the CPU's widest vector instructions (oneDNN), which round differently (capping
    # oneDNN at AVX2 on an AVX-512 machine moves a Keras LSTM's logits by up to 1.4e-6).
    folder = model_folder(tmp_path, model, "keras", width=8)
    inputs = tmp_path / "x.npy"
    np.save(inputs, neutral_inputs(model, n=16).astype(np.int32))
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", CONVERT, str(folder), str(out), str(inputs)],
            capture_output=True, text=True, check=False, cwd=REPO, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(out / "outputs.npz") as data:
            outputs.append({k: data[k] for k in data.files})
    for runtime in ("keras", "onnx"):
        np.testing.assert_array_equal(outputs[0][runtime], outputs[1][runtime])
    # and the conversion is faithful at float32 round-off, as Table II reports it
    np.testing.assert_allclose(outputs[0]["onnx"], outputs[0]["keras"], atol=1e-5)
