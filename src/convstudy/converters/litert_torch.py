"""PyTorch to TFLite with litert-torch, in its own environment.

litert-torch cannot be installed beside the study's stack (it downgrades typing_extensions
and breaks pydantic), so it runs in a separate virtual environment
(``make litert-torch-env``: ``.venv-litert-torch`` from ``envs/litert-torch.txt``); the
hop calls that environment's Python on this module. Without the environment the hop is
``not_run`` with the reason. The export has a static batch (litert-torch fails on a
dynamic one); token-id inputs become int32.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy.converters import Converted, NotAvailable
from convstudy.formats import tflite
from convstudy.spec import ModelSpec

#: Where this checkout's package lives (put on the environment's path).
SRC = Path(__file__).resolve().parents[2]


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Export the trained torch model of ``source`` to ``out`` in the litert-torch env."""
    python = Path(settings["python"])
    if not python.is_absolute():  # `make litert-torch-env` makes it in the checkout
        python = SRC.parent / python
    if not python.exists():
        raise NotAvailable(f"litert-torch environment {python} is absent (`make litert-torch-env`)")
    command = [str(python), "-m", __name__, str(source), str(out), str(settings["batch"])]
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
    )
    sys.stderr.write(done.stderr[-20000:])
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
    # litert-torch prints its progress on stdout too: the facts are the last line
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1:]
    facts = {
        "converter": "litert_torch.convert (static batch)",
        **json.loads(last[0] if last else "{}"),
    }
    found = tflite.signature(out)
    return Converted(
        spec.observed("tflite", shape=found.shape, dtype=found.dtype, name=found.name), facts
    )


def _export(source: Path, out: Path, batch: int) -> dict[str, Any]:
    import litert_torch
    import torch

    from convstudy import frameworks
    from convstudy.threads import limit_threads

    limit_threads(1, "torch")
    spec = ModelSpec.load(source)
    model = frameworks.load(source, spec)
    example = torch.from_numpy(spec.example(batch=batch))
    litert_torch.convert(model.eval(), (example,)).export(str(out))
    return {"batch": batch, "litert_torch": getattr(litert_torch, "__version__", "unknown")}


if __name__ == "__main__":
    print(json.dumps(_export(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))))
