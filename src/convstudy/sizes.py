"""Model size on disk: a file's size, or the total of a folder (an ``.mlpackage``)."""

from __future__ import annotations

from pathlib import Path


def size_bytes(path: str | Path) -> int:
    """Bytes on disk of a file, or of every file below a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
