"""Formats: how a model is stored on disk, and everything that depends on it.

``detect(path)`` names the format of a model file or folder a user brings.
"""

from __future__ import annotations

from pathlib import Path

from convstudy.errors import ConfigError

#: The format of a brought file, by its suffix.
FORMATS_BY_SUFFIX = {".onnx": "onnx", ".keras": "keras", ".tflite": "tflite"}


def detect(path: str | Path, key: str = "matrix.sources") -> str:
    """The format of the model at ``path``.

    Raises:
        ConfigError: not a file or folder of a supported kind (naming ``key``).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"invalid config key '{key}': {path}: no such file or folder")
    if path.is_dir() and (path / "saved_model.pb").exists():
        return "savedmodel"
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None or not path.is_file():
        raise ConfigError(
            f"invalid config key '{key}': {path}: expected an .onnx, .keras or .tflite file or a SavedModel folder"
        )
    return fmt
