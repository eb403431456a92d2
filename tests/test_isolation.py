"""Jobs that run only onnxruntime, numpy or pandas never import torch or TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_python

SCRIPT = """
import json, sys
from pathlib import Path
from convstudy.jobs import compare, predict, report

run, out = Path(sys.argv[1]), Path(sys.argv[2])
cell = run / "results/predictions/lenet5/torch/seed0"
record = predict.run(
    model="lenet5", framework="torch", seed=0, target="onnx",
    source=run / "results/converted/lenet5/torch/seed0/onnx", data_path=run / "data/prepared/mnist.npz",
    evaluation={"batch_size": 64, "warmup": 0, "repeats": 5, "n_test": 256},
    threads=1, outputs_out=out / "onnx.npz", record_out=out / "onnx.json",
)
compare.run(original=cell / "original.npz", converted=out / "onnx.npz", converted_record=out / "onnx.json",
            out=out / "metrics.json")
tables = run / "results/tables"
report.run(tables={name: tables / f"{name}.csv" for name in ("training", "predictions", "comparisons")},
           out_dir=out / "report")
heavy = sorted(m for m in ("torch", "tensorflow", "keras", "coremltools") if m in sys.modules)
print(json.dumps({"heavy": heavy, "onnxruntime": "onnxruntime" in sys.modules, "status": record.status}))
"""


def test_onnx_prediction_comparison_and_report_import_no_framework(
    tiny_run: Path, tmp_path: Path
) -> None:
    result = json.loads(run_python(SCRIPT, str(tiny_run), str(tmp_path))[-1])
    assert result == {"heavy": [], "onnxruntime": True, "status": "ok"}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["metrics"]["disagreement"] == 0.0
