"""The ``device`` key: ``auto`` resolves to the CPU where no GPU is seen, a CUDA request
without a GPU stops with one line naming the key, and the CPU path trains and predicts.
(No GPU here or in CI: the CUDA path itself is not exercised.)"""

from __future__ import annotations

import json

import pytest
from conftest import run_python

from convstudy import registry
from convstudy.grid import prediction_device

RESOLVE = """
import json, sys
from convstudy.errors import ConfigError
from convstudy.frameworks import adapter
fw = adapter(sys.argv[1])
out = {"auto": fw.use_device("auto"), "cpu": fw.use_device("cpu")}
try:
    fw.use_device("cuda:0")
except ConfigError as error:
    out["cuda"] = str(error)
print(json.dumps(out))
"""


@pytest.mark.parametrize("framework", sorted(registry.FRAMEWORKS))
def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused(framework: str) -> None:
    found = json.loads(run_python(RESOLVE, framework)[-1])
    assert found["auto"] == found["cpu"] == "cpu"
    assert found["cuda"].startswith("device: 'cuda:0', but ") and "0 " in found["cuda"]


TRAIN_AND_PREDICT = """
import json, sys
import numpy as np
from convstudy import models
from convstudy.frameworks import adapter
name = sys.argv[1]
fw = adapter(name)
device = fw.use_device("auto")
fw.seed(0)
net = models.build("lenet5", name, input_shape=(28, 28, 1), num_classes=10, arch={})
x = np.random.default_rng(0).random((8, *((1, 28, 28) if name == "torch" else (28, 28, 1))),
                                    dtype=np.float32)
y = np.arange(8) % 10
epoch, evaluate = fw.trainer(net, {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0,
                                   "weight_decay": 0.0, "batch_size": 4})
loss, _ = epoch(x, y)
out = fw.predictor(net)(x)
print(json.dumps({"device": device, "loss": loss, "shape": list(out.shape)}))
"""


@pytest.mark.parametrize("framework", sorted(registry.FRAMEWORKS))
def test_cpu_path_trains_and_predicts(framework: str) -> None:
    found = json.loads(run_python(TRAIN_AND_PREDICT, framework)[-1])
    assert found["device"] == "cpu" and found["shape"] == [8, 10] and found["loss"] > 0


def test_only_framework_runtimes_follow_the_device() -> None:
    assert prediction_device("cuda", "torch", "original") == "cuda"
    assert prediction_device("cuda", "keras", "original") == "cuda"
    assert prediction_device("cuda", "torch", "onnx") == "cpu"
    assert prediction_device("auto", "keras", "onnx+onnx-fp16") == "cpu"
