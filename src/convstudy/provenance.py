"""Provenance carried by every result record: package versions, hashes, host, threads."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from convstudy.atomic import atomic_output

#: Distributions whose versions are recorded (looked up in metadata, never imported).
TRACKED_PACKAGES: tuple[str, ...] = (
    "numpy",
    "torch",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "coremltools",
    "foolbox",
    "textattack",
    "snakemake",
    "pandas",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (``"absent"`` for those not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, sysctl on macOS)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        import subprocess

        done = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or "unknown"


def host() -> dict[str, str]:
    """Where a measurement was taken."""
    return {
        "platform": platform.system(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "python": platform.python_version(),
    }


def config_hash(values: Any) -> str:
    """A short, stable hash of JSON-serialisable ``values`` (key order does not matter)."""
    blob = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(kw_only=True)
class Provenance:
    """Where a record comes from: the hash of the job's own parameters, its threads,
    package versions and host."""

    config_hash: str
    threads: int
    versions: dict[str, str] = field(default_factory=package_versions)
    host: dict[str, str] = field(default_factory=host)

    @classmethod
    def of_job(cls, *, threads: int, params: Any) -> Provenance:
        """The provenance of a job run now with ``params`` (any JSON-serialisable value)."""
        return cls(config_hash=config_hash(params), threads=threads)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON (to a temporary name, then renamed into place)."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object written by :func:`write_json`."""
    return json.loads(Path(path).read_text())
