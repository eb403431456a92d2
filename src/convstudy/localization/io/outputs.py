"""Where a localization's results go, checked before any work starts: a folder that can be
created or written into, a file whose folder can, never one in place of the other."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convstudy.localization.io.inputs import LocalizationError


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _writable_below(path: Path, folder: Path, flag: str) -> None:
    """Refuse ``path`` when ``folder`` (where it goes) is not, or cannot become, a
    writable folder."""
    anchor = _nearest_existing(folder)
    if not anchor.is_dir():
        raise LocalizationError(f"{flag} {path}: {anchor} is a file, not a folder")
    try:  # the real test (permission bits do not hold back root; /proc refuses anyone)
        with tempfile.TemporaryDirectory(dir=anchor, prefix=".convstudy-probe-"):
            pass
    except OSError as exc:
        raise LocalizationError(
            f"{flag} {path}: {anchor} is not writable ({exc.strerror})"
        ) from exc


def output_folder(path: Path, flag: str = "--out") -> Path:
    """``path`` as a folder of results: an existing folder, or one that can be made."""
    if path.exists() and not path.is_dir():
        raise LocalizationError(f"{flag} {path}: exists and is not a folder")
    _writable_below(path, path, flag)
    return path


def output_file(path: Path, flag: str = "--out") -> Path:
    """``path`` as a file to write: not a folder, in a folder that exists or can be made."""
    if path.is_dir():
        raise LocalizationError(f"{flag} {path}: is a folder; give a file name (model.onnx)")
    if path.exists() and not os.access(path, os.W_OK):
        raise LocalizationError(f"{flag} {path}: exists and is not writable")
    _writable_below(path, path.parent, flag)
    return path
