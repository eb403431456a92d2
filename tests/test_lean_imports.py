"""TensorFlow and Keras import without the optional packages no job uses, and work."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from convstudy import lean_imports
{guard}
lean_imports.install()
lean_imports.install()  # once per process
import keras, numpy as np
skipped = sorted(name for name in ("sklearn", "pandas", "matplotlib", "scipy") if name in sys.modules)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
out = model.predict(np.ones((4, 3), np.float32), verbose=0)
import pandas, sklearn  # the job's own imports still work
loader = type(sys.modules["tensorflow"].__spec__.loader).__name__
print(skipped, out.shape, loader, sum(type(f).__name__ == "_LeanFinder" for f in sys.meta_path))
"""


def _run(guard: str = "") -> subprocess.CompletedProcess[str]:
    probe = PROBE.format(guard=guard)
    return subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True
    )


def test_tensorflow_and_keras_import_without_the_optional_packages() -> None:
    done = _run()
    assert done.returncode == 0, done.stderr[-2000:]
    # nothing optional was imported by TensorFlow or Keras, the model runs, the module's
    # spec names its own loader, and the finder is installed once
    assert done.stdout.split("\n")[0] == "[] (4, 2) SourceFileLoader 1"


def test_an_env_check_still_hides_what_the_env_lacks() -> None:
    # the torch env has no TensorFlow: the lean finder must not find it past the guard
    guard = "from convstudy import envs\nenvs.EnvImportGuard('torch').install()"
    done = _run(guard)
    assert done.returncode != 0
    assert "No module named 'keras'" in done.stderr
