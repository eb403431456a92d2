"""Rule ``converter_env``: one release of a converter, installed from PyPI into its own
folder, to convert beside the pinned release (config ``versions``).

``pip install --no-deps --target FOLDER package==version``: only the converter's own
distribution goes into the folder; everything it imports besides comes from the study's
environment (its pinned frameworks and onnx). A job puts the folder first on
``sys.path`` (:func:`convstudy.jobs.convert_version.activate`), so the release shadows the
pinned one for that job only. A release that cannot run with the study's pins fails in its
conversion, which records the exception as a finding.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from convstudy.atomic import atomic_output
from convstudy.errors import ConvstudyError

logger = logging.getLogger(__name__)


def run(*, package: str, version: str, out_dir: str | Path) -> Path:
    """Install ``package==version`` (its files only) into the folder ``out_dir``.

    Raises:
        ConvstudyError: pip could not install it (no such release, no index reachable).
    """
    with atomic_output(out_dir, directory=True) as folder:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--disable-pip-version-check", "--target", str(folder), f"{package}=={version}",
        ]  # fmt: skip
        logger.info("%s", " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        logger.info("%s%s", done.stdout, done.stderr)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            why = lines[-1] if lines else f"pip exited with {done.returncode}"
            raise ConvstudyError(f"versions: cannot install {package}=={version}: {why}")
    return Path(out_dir)
