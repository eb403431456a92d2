"""Write an output under a temporary name beside it; rename it into place when complete.

A job killed mid-write (``kill -9``, out of memory, power loss) leaves only a hidden
temporary name, never a half-written file under the final name, so no later run can take
a partial output as complete. The temporary name keeps the extension, because several
writers choose their format from it (``np.savez`` appends ``.npz``, ``savefig`` reads the
format from it, Keras refuses a path not ending in ``.keras``): ``results/x/model.keras``
is written as ``results/x/.model.tmp-<pid>.keras``. A directory output (a model folder,
a CoreML ``.mlpackage``) is built as a temporary directory and renamed in one step.

Usage::

    with atomic_output(out_path) as tmp:
        np.savez(tmp, outputs=outputs)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def temporary_sibling(final: str | Path) -> Path:
    """The hidden temporary name for ``final``: same folder, same extension, this pid."""
    final = Path(final)
    suffix = "".join(final.suffixes) if not final.name.startswith(".") else ""
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    return final.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")


@contextlib.contextmanager
def atomic_output(final: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` when the block succeeds.

    With ``directory=True`` the temporary path is an empty directory. On an exception the
    temporary path is removed and ``final`` is left as it was.
    """
    final = Path(final)
    tmp = temporary_sibling(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove(tmp)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer did not create {tmp}")
        if tmp.is_file():
            with open(tmp, "rb") as handle:  # the data is on disk before the name points at it
                os.fsync(handle.fileno())
        if final.is_dir() and not final.is_symlink():
            if any(final.iterdir()):
                raise FileExistsError(f"{final} exists and is not empty")
            final.rmdir()  # an empty folder, as Snakemake or mkdir(exist_ok=True) leaves it
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power loss
        finally:
            os.close(dir_fd)
    except BaseException:
        remove(tmp)
        raise


def remove(path: Path) -> None:
    """Delete ``path`` (a file, a link or a folder tree) if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
