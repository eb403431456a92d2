"""Pure readers of the datasets' published formats (no checksum logic; see ``sources``).

Every reader turns a truncated or corrupt file into ``DataError("<path>: <what is wrong>")``.
Images come back as uint8 NHWC arrays (MNIST as (N, 28, 28) from :func:`read_idx`),
labels as the file stores them (uint8 or int64); callers cast as they need.
"""

from __future__ import annotations

import gzip
import io
import logging
import pickle
import re
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convstudy.errors import DataError

logger = logging.getLogger(__name__)

#: IDX magic numbers: 0x0000 0x08 (unsigned byte) and the number of dimensions.
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"

_IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$")

# Exceptions that a damaged gzip/tar/zip/pickle stream raises from the standard library.
_CORRUPT = (
    OSError,
    EOFError,
    zlib.error,
    tarfile.TarError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
)


class TextSplit(NamedTuple):
    """Reviews of one split: texts and labels (1 = positive, 0 = negative), same order."""

    texts: list[str]
    labels: np.ndarray


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes (MNIST).

    Args:
        path: the ``*-ubyte.gz`` file.
        expected_magic: 2051 for images, 2049 for labels; ``None`` accepts either.

    Returns:
        uint8 array of the stored dimensions, e.g. (60000, 28, 28) or (60000,).
    """
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except _CORRUPT as exc:
        raise DataError(f"{path}: truncated or corrupt gzip ({exc})") from exc
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    allowed = (expected_magic,) if expected_magic else (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC)
    if magic not in allowed:
        raise DataError(f"{path}: IDX magic {magic}, expected {' or '.join(map(str, allowed))}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX dimensions {dims} need {expected} data bytes, "
            f"file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: refuses every global but numpy's array reconstruction.

    A pickle can run arbitrary code; the checksum protects the published file, and this
    allow-list protects the reader when it is pointed at anything else.
    """

    _ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(module, name)


def _cifar_batch(blob: bytes, member: str) -> tuple[np.ndarray, np.ndarray]:
    """(images NHWC uint8, labels uint8) from one pickled batch."""
    # encoding="bytes": the batches were pickled by Python 2, keys are byte strings.
    batch = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{member}: data {data.shape} / {len(labels)} labels, expected (N, 3072)")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ValueError(f"{member}: labels outside 0-9")
    # Each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def read_cifar_tarball(path: str | Path) -> dict[str, np.ndarray]:
    """Read the official ``cifar-10-python.tar.gz``.

    Returns:
        ``x_train`` (50000, 32, 32, 3) uint8 from ``data_batch_1..5`` in order, ``y_train``
        uint8, ``x_test``/``y_test`` from ``test_batch``.
    """
    wanted = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    blob = tar.extractfile(member).read()  # type: ignore[union-attr]
                    batches[base] = _cifar_batch(blob, member.name)
    except _CORRUPT as exc:
        raise DataError(f"{path}: corrupt CIFAR-10 tarball ({exc})") from exc
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise DataError(f"{path}: CIFAR-10 tarball lacks {', '.join(missing)}")
    x_train = np.concatenate([batches[b][0] for b in CIFAR_TRAIN_BATCHES])
    y_train = np.concatenate([batches[b][1] for b in CIFAR_TRAIN_BATCHES])
    x_test, y_test = batches[CIFAR_TEST_BATCH]
    logger.info("cifar10: read %d training and %d test images", len(x_train), len(x_test))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _read_image_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (N, 32, 32, 3) uint8 and ``y`` (N,) from one npz file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except _CORRUPT as exc:
        raise DataError(f"{path}: corrupt or incomplete npz ({type(exc).__name__}: {exc})") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: x is {x.dtype} {x.shape}, expected uint8 (N, 32, 32, 3)")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y has shape {y.shape}, expected ({len(x)},)")
    return x, y


def read_cifar_npz(train_path: str | Path, test_path: str | Path) -> dict[str, np.ndarray]:
    """Read the npz pair (``x`` uint8 NHWC, ``y`` labels) of a local CIFAR-10 copy."""
    x_train, y_train = _read_image_npz(train_path)
    x_test, y_test = _read_image_npz(test_path)
    logger.info("cifar10: read %d training and %d test images", len(x_train), len(x_test))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def read_imdb_archive(path: str | Path) -> dict[str, TextSplit]:
    """Read the labelled reviews of an aclImdb tar.gz (published or repacked).

    Only ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` are read (UTF-8); other
    members (``train/unsup``, ``urls_*.txt``, ``imdb.vocab``, ...) are ignored. Each split
    is ordered by member path, so the order does not depend on how the archive was packed.

    Returns:
        ``{"train": TextSplit, "test": TextSplit}`` with labels int64, pos = 1, neg = 0.
    """
    found: dict[str, list[tuple[str, str, int]]] = {"train": [], "test": []}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                match = _IMDB_MEMBER.match(member.name)
                if member.isfile() and match:
                    text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                    found[match[1]].append((member.name, text, int(match[2] == "pos")))
    except (*_CORRUPT, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: corrupt IMDb archive ({type(exc).__name__}: {exc})") from exc
    splits = {}
    for split, items in found.items():
        if not items:
            raise DataError(f"{path}: no aclImdb/{split}/{{pos,neg}}/*.txt reviews")
        items.sort()
        splits[split] = TextSplit(
            [t for _, t, _ in items], np.array([y for *_, y in items], np.int64)
        )
        logger.info("imdb: read %d %s reviews", len(items), split)
    return splits
