"""Turn verified source files into one split, model-ready ``.npz`` plus a provenance JSON.

Split rule (all datasets): ``p = numpy.random.default_rng(split_seed).permutation(n)``
over the official training set's n indices; the LAST ``val_size`` entries of ``p`` are
validation, the others training, both kept in permuted order. The official test set stays
the test set, in its canonical order, except IMDb's: its archive lists every negative
review before every positive one, so a "first N" evaluation subset would hold one class;
it is put in the order ``numpy.random.default_rng(split_seed).permutation(n_test)``.

Resized images (``image_size``, CIFAR-10 for the ImageNet architectures, which take larger
images): every split is enlarged once here, bilinearly (:func:`resize_images`), and stored as
uint8, so the models of both frameworks and every converted format see the same pixels and
no model carries a resize operation of its own (which converters could treat differently).
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.data import readers, sources, text
from convstudy.errors import ConfigError, DataError
from convstudy.provenance import sha256_file, write_json

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "cifar10", "imdb")
SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "numpy.random.default_rng(split_seed).permutation(n_official_train); the last "
    "val_size indices are validation, the rest training, both in permuted order; "
    "the official test set is the test set, in canonical order (imdb: in the order "
    "numpy.random.default_rng(split_seed).permutation(n_official_test), because the "
    "archive is sorted by label)"
)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same arrays -> same npz bytes


def fetch_dataset(name: str, raw_dir: str | Path) -> list[Path]:
    """Download every publisher file of ``name`` into ``raw_dir`` (same layout as a local folder).

    Each file's URLs are tried in order (publisher, then mirrors); files already present
    with the right checksum are kept.
    """
    paths = []
    for entry in sources.dataset_spec(name).publisher.files:
        dest, errors = Path(raw_dir) / entry.relpath, []
        for url in entry.urls:
            try:
                paths.append(sources.fetch(url, dest, entry.sha256, entry.description))
                break
            except DataError as exc:
                logger.warning("%s", exc)
                errors.append(str(exc))
        else:
            raise DataError(f"{dest}: could not download ({'; '.join(errors)})")
    return paths


def _verified_sources(
    name: str,
    local_dir: str | Path | None,
    raw_dir: str | Path,
    expected_sha256: Mapping[str, str] | None,
) -> list[dict[str, Any]]:
    """Locate and verify; one provenance record per file (with its ``path`` as a Path)."""
    records = []
    for src in sources.locate(name, local_dir, raw_dir):
        # Overrides exist for tests with small fake files; production passes None.
        want = (expected_sha256 or {}).get(src.entry.relpath, src.entry.sha256)
        records.append(
            {
                "relpath": src.entry.relpath,
                "role": src.entry.role,
                "path": src.path,
                "sha256": sources.verify(src.path, want, src.entry.description),
                "registry_sha256": src.entry.sha256,
                "exactness": src.entry.exactness,
                "origin": src.origin,
                "option": src.option.name,
                "format": src.option.format,
                "description": src.entry.description,
            }
        )
    logger.info("%s: verified %d source file(s) (%s)", name, len(records), records[0]["option"])
    return records


def _read_official(fmt: str, paths: Mapping[str, Path]) -> dict[str, Any]:
    """Official train/test arrays (images) or TextSplits (imdb) from the located files."""
    if fmt == "mnist-idx":
        data = {
            f"{kind}_{split}": readers.read_idx(paths[f"{split}_{role}"], magic)
            for split in ("train", "test")
            for kind, role, magic in (
                ("x", "images", readers.IDX_IMAGES_MAGIC),
                ("y", "labels", readers.IDX_LABELS_MAGIC),
            )
        }
        for split in ("train", "test"):
            if len(data[f"x_{split}"]) != len(data[f"y_{split}"]):
                raise DataError(
                    f"{paths[f'{split}_labels']}: {len(data[f'y_{split}'])} labels "
                    f"for {len(data[f'x_{split}'])} images"
                )
            data[f"x_{split}"] = data[f"x_{split}"][..., np.newaxis]  # NHWC, one channel
            logger.info("mnist: read %d %s images", len(data[f"x_{split}"]), split)
        return data
    if fmt == "cifar-tarball":
        return readers.read_cifar_tarball(paths["archive"])
    if fmt == "cifar-npz":
        return readers.read_cifar_npz(paths["train"], paths["test"])
    if fmt == "imdb-tarball":
        return dict(readers.read_imdb_archive(paths["archive"]))
    raise ValueError(f"no reader for format {fmt!r}")  # a registry bug, not bad input


#: How :func:`resize_images` interpolates (recorded in the provenance JSON).
RESIZE_RULE = (
    "bilinear with half-pixel centres (output pixel i samples input coordinate "
    "(i + 0.5) * in / out - 0.5, clamped to the image), per channel, rounded to the nearest "
    "integer (ties to even) as uint8: the interpolation of tf.image.resize(method='bilinear') "
    "(PIL's BILINEAR agrees within one grey level); enlarging only"
)
#: Images resized per chunk (bounds the float32 working memory).
_RESIZE_CHUNK = 1024


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of bilinear interpolation with half-pixel centres."""
    coords = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(coords).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = coords - low
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix.astype(np.float32)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 NHWC images enlarged to ``size`` x ``size`` (see :data:`RESIZE_RULE`).

    Raises:
        ConfigError: ``size`` is smaller than the images (downscaling would need an
            anti-aliasing filter this rule does not have).
    """
    n, h, w, c = x.shape
    if size < max(h, w):
        raise ConfigError(f"image_size: {size} is smaller than the {h}x{w} images (enlarging only)")
    if (h, w) == (size, size):
        return x
    rows, cols = _bilinear_matrix(h, size), _bilinear_matrix(w, size)
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for start in range(0, n, _RESIZE_CHUNK):
        chunk = x[start : start + _RESIZE_CHUNK].astype(np.float32)
        m = len(chunk)
        tall = np.matmul(rows, chunk.reshape(m, h, w * c)).reshape(m * size, w, c)
        resized = np.matmul(cols, tall).reshape(m, size, size, c)
        out[start : start + m] = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return out


def split_indices(n: int, val_size: int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices into the official training set (see the module rule)."""
    if not 0 <= val_size < n:
        raise ConfigError(f"val_size: {val_size}, must be in [0, {n}) for {n} training examples")
    perm = np.random.default_rng(split_seed).permutation(n)
    return perm[: n - val_size], perm[n - val_size :]


def _imdb_arrays(
    official: dict[str, Any],
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    vocab_size: int,
    seq_len: int,
    split_seed: int,
) -> dict[str, np.ndarray]:
    """Tokenise, build the vocabulary on the training split only, encode every split."""
    train_tokens = [text.tokenize(t) for t in official["train"].texts]
    test_order = np.random.default_rng(split_seed).permutation(len(official["test"].texts))
    test_tokens = [text.tokenize(official["test"].texts[i]) for i in test_order]
    fit = [train_tokens[i] for i in train_idx]
    vocab = text.build_vocabulary(fit, vocab_size)
    logger.info("imdb: vocabulary of %d words from %d training reviews", len(vocab), len(fit))
    labels = official["train"].labels
    return {
        "x_train": text.encode(fit, vocab, seq_len),
        "y_train": labels[train_idx],
        "x_val": text.encode([train_tokens[i] for i in val_idx], vocab, seq_len),
        "y_val": labels[val_idx],
        "x_test": text.encode(test_tokens, vocab, seq_len),
        "y_test": official["test"].labels[test_order],
        # each test review's full length in words, before encoding cuts it to seq_len
        # (RQ3 attacks reviews of 10-100 words, as published)
        "words_test": np.array([len(tokens) for tokens in test_tokens], dtype=np.int64),
        "vocab": np.array(vocab, dtype=str),
    }


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Like ``numpy.savez_compressed`` but byte-reproducible, written via ``.part`` + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(part, path)


def prepare_dataset(
    name: str,
    *,
    local_dir: str | Path | None,
    raw_dir: str | Path,
    out_npz: str | Path,
    out_json: str | Path,
    val_size: int,
    split_seed: int,
    vocab_size: int | None = None,
    seq_len: int | None = None,
    image_size: int | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> None:
    """Locate, verify, read and split ``name``; write ``out_npz`` and ``out_json``.

    Args:
        name: "mnist", "cifar10" or "imdb".
        local_dir: a folder laid out like the registry (``mnist/``, ``cifar10/``, ``imdb/``);
            ``None`` uses the publisher files that :func:`fetch_dataset` put in ``raw_dir``.
        val_size, split_seed: see the module's split rule.
        vocab_size, seq_len: required for imdb (see :mod:`convstudy.data.text`).
        image_size: images only: enlarge every image to this square size
            (:func:`resize_images`); ``None`` keeps the published size.
        expected_sha256: registry relpath -> sha256 overriding the registry (tests only).

    The npz holds ``x_*`` (images uint8 NHWC; imdb int32 (N, seq_len)), ``y_*`` int64 for
    train/val/test, and for imdb ``vocab`` (str, index -> word).
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset: unknown {name!r} (known: {', '.join(DATASETS)})")
    if name == "imdb" and (vocab_size is None or seq_len is None):
        raise ConfigError("imdb: vocab_size and seq_len are required")
    if name == "imdb" and image_size is not None:
        raise ConfigError("imdb: image_size applies to image datasets only")
    records = _verified_sources(name, local_dir, raw_dir, expected_sha256)
    official = _read_official(records[0]["format"], {r["role"]: r["path"] for r in records})
    n_official = len(official["train"].labels if name == "imdb" else official["y_train"])
    train_idx, val_idx = split_indices(n_official, val_size, split_seed)
    if name == "imdb":
        arrays = _imdb_arrays(official, train_idx, val_idx, vocab_size, seq_len, split_seed)  # type: ignore[arg-type]
    else:
        x, y = official["x_train"], official["y_train"]
        arrays = {
            "x_train": x[train_idx],
            "y_train": y[train_idx],
            "x_val": x[val_idx],
            "y_val": y[val_idx],
            "x_test": official["x_test"],
            "y_test": official["y_test"],
        }
        if image_size is not None:
            for split in SPLITS:
                arrays[f"x_{split}"] = resize_images(arrays[f"x_{split}"], image_size)
            logger.info("%s: images resized to %dx%d", name, image_size, image_size)
    for split in SPLITS:
        arrays[f"y_{split}"] = arrays[f"y_{split}"].astype(np.int64)
    out_npz = Path(out_npz)
    _write_npz(out_npz, arrays)
    provenance = _provenance(
        name, records, arrays, out_npz, val_size, split_seed, vocab_size, seq_len
    )
    if image_size is not None:
        provenance["resize"] = {"image_size": image_size, "rule": RESIZE_RULE}
    write_json(out_json, provenance)
    logger.info(
        "%s: wrote %s (train %d, val %d, test %d)",
        name,
        out_npz,
        len(arrays["y_train"]),
        len(arrays["y_val"]),
        len(arrays["y_test"]),
    )


def _provenance(
    name: str,
    records: list[dict[str, Any]],
    arrays: Mapping[str, np.ndarray],
    out_npz: Path,
    val_size: int,
    split_seed: int,
    vocab_size: int | None,
    seq_len: int | None,
) -> dict[str, Any]:
    """The provenance JSON payload (see the README for its keys)."""
    lossy = [r["relpath"] for r in records if r["exactness"] == "lossy"]
    notes = (
        [
            (
                f"LOSSY SOURCE: {', '.join(lossy)}: a re-encoded (JPEG-decoded) copy; pixel "
                "values differ from the published dataset and results are not exactly comparable "
                "with published ones."
            )
        ]
        if lossy
        else []
    )
    notes += [
        f"{r['relpath']} is a repacked archive: members identical to the published "
        "release, archive checksum differs."
        for r in records
        if r["exactness"] == "repacked"
    ]
    tokenizer = None
    if name == "imdb":
        tokenizer = {
            **text.TOKENIZER_SETTINGS,
            "vocab_size": vocab_size,
            "seq_len": seq_len,
            "vocabulary_from": "training split only (validation and test excluded)",
            "vocabulary_length": len(arrays["vocab"]),
        }
    return {
        "dataset": name,
        "exact": not lossy,
        "notes": notes,
        "sources": [{**r, "path": str(r["path"])} for r in records],
        "split_seed": split_seed,
        "split": {
            "rule": SPLIT_RULE,
            "val_size": val_size,
            **{f"n_{s}": len(arrays[f"y_{s}"]) for s in SPLITS},
        },
        "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in arrays.items()},
        "tokenizer": tokenizer,
        "npz_path": str(out_npz),
        "npz_sha256": sha256_file(out_npz),
    }


def load_prepared(path: str | Path, splits: Sequence[str] = SPLITS) -> dict[str, np.ndarray]:
    """The arrays of a prepared npz that ``splits`` need (``x_``, ``y_`` and ``words_`` of
    each, and the keys of no split, such as ``vocab``), loaded into memory. A job that
    evaluates asks for ``("test",)``: CIFAR-10's training images are 1.1 s of
    decompression that it would not use."""
    wanted = [f"{kind}_{split}" for split in splits for kind in ("x", "y")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in wanted if key not in npz.files]
            if missing:
                raise DataError(f"{path}: lacks {', '.join(missing)}")
            split_of = {key: key.partition("_")[2] for key in npz.files}
            return {
                key: npz[key]
                for key, split in split_of.items()
                if split in splits or split not in SPLITS
            }
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable prepared npz ({exc})") from exc


def subset(
    arrays: Mapping[str, np.ndarray], n_train: int | None, n_val: int | None, n_test: int | None
) -> dict[str, np.ndarray]:
    """The FIRST n examples of each split (``None`` = all), with their review lengths
    (``words_<split>``) where present; other keys (``vocab``) unchanged."""
    out = dict(arrays)
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        if n is None:
            continue
        available = len(arrays[f"y_{split}"])
        if not 0 <= n <= available:
            raise ConfigError(f"n_{split}: {n} requested, {available} {split} examples available")
        out[f"x_{split}"], out[f"y_{split}"] = arrays[f"x_{split}"][:n], arrays[f"y_{split}"][:n]
        if f"words_{split}" in arrays:
            out[f"words_{split}"] = arrays[f"words_{split}"][:n]
    return out
