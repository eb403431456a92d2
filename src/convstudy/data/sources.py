"""Registry of dataset source files: where each one comes from and what its bytes must be.

Every dataset can be obtained in one or more *options* (sets of files that together hold
the whole dataset). ``options[0]`` is always the publisher's release, downloadable from
its URL(s); later options are alternatives accepted from a local folder (for machines
without internet), each tagged with how exact it is:

* ``"exact"``: the published file, byte for byte.
* ``"repacked"``: a different archive whose members are byte-identical to the published
  ones (the data is exact, the archive checksum differs).
* ``"lossy"``: a re-encoded copy; results computed on it are not exactly comparable.

Paths are relative to the folder they are found in; a local folder and the download
folder (``raw_dir``) share the same layout (``mnist/``, ``cifar10/``, ``imdb/``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from convstudy.errors import ConfigError, DataError
from convstudy.provenance import sha256_file

logger = logging.getLogger(__name__)

#: Environment variable naming a local folder laid out as in data/README.md.
LOCAL_DIR_ENV = "CONVSTUDY_DATA_DIR"

EXACTNESS_TAGS = ("exact", "repacked", "lossy")


@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset source option."""

    relpath: str  # relative to the local folder or raw_dir, e.g. "mnist/t10k-labels-idx1-ubyte.gz"
    role: str  # what the reader uses it for: "train_images", "archive", "test", ...
    sha256: str
    exactness: str  # one of EXACTNESS_TAGS
    size: int  # bytes
    description: str  # what this file should be (used in error messages)
    urls: tuple[str, ...] = ()  # publisher URL first, then mirrors; empty for local-only files


@dataclass(frozen=True)
class SourceOption:
    """A set of files that together hold a whole dataset, read with one reader."""

    name: str
    format: str  # reader key: "mnist-idx", "cifar-tarball", "cifar-npz", "imdb-tarball"
    files: tuple[SourceFile, ...]

    @property
    def exactness(self) -> str:
        """The weakest tag among the option's files (lossy < repacked < exact)."""
        return max((f.exactness for f in self.files), key=EXACTNESS_TAGS.index)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset and the options it can be obtained in, in order of preference."""

    name: str
    title: str
    options: tuple[SourceOption, ...]

    @property
    def publisher(self) -> SourceOption:
        """The publisher's release (downloadable)."""
        return self.options[0]


@dataclass(frozen=True)
class ResolvedSource:
    """A registry file found on disk."""

    path: Path
    entry: SourceFile
    option: SourceOption
    origin: str  # "local folder <dir>" or the URL the file was downloaded from


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
_MNIST_ORIGINAL = "http://yann.lecun.com/exdb/mnist/"


def _mnist(name: str, role: str, sha: str, size: int, what: str) -> SourceFile:
    return SourceFile(
        f"mnist/{name}",
        role,
        sha,
        "exact",
        size,
        f"MNIST {what} (gzip IDX)",
        (_MNIST_URL + name, _MNIST_ORIGINAL + name),
    )


REGISTRY: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist",
        "MNIST handwritten digits",
        (
            SourceOption(
                "published",
                "mnist-idx",
                (
                    _mnist(
                        "train-images-idx3-ubyte.gz",
                        "train_images",
                        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                        9_912_422,
                        "training images",
                    ),
                    _mnist(
                        "train-labels-idx1-ubyte.gz",
                        "train_labels",
                        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                        28_881,
                        "training labels",
                    ),
                    _mnist(
                        "t10k-images-idx3-ubyte.gz",
                        "test_images",
                        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                        1_648_877,
                        "test images",
                    ),
                    _mnist(
                        "t10k-labels-idx1-ubyte.gz",
                        "test_labels",
                        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                        4_542,
                        "test labels",
                    ),
                ),
            ),
        ),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        "CIFAR-10",
        (
            SourceOption(
                "published",
                "cifar-tarball",
                (
                    SourceFile(
                        "cifar10/cifar-10-python.tar.gz",
                        "archive",
                        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                        "exact",
                        170_498_071,
                        "the published CIFAR-10 python tarball",
                        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                    ),
                ),
            ),
            SourceOption(
                "lossy-npz",
                "cifar-npz",
                (
                    SourceFile(
                        "cifar10/cifar10_train.npz",
                        "train",
                        "39228019c8fd6be6f265a23310e0fde8159c7bf6ced8b41606700734190b96a0",
                        "lossy",
                        142_468_606,
                        "LOSSY JPEG-decoded CIFAR-10 training set (npz)",
                    ),
                    SourceFile(
                        "cifar10/cifar10_test.npz",
                        "test",
                        "8dcb8da8ef28840137237046f1e20ed2219d163bb4670f65d54a01f093481393",
                        "lossy",
                        28_500_296,
                        "LOSSY JPEG-decoded CIFAR-10 test set (npz)",
                    ),
                ),
            ),
        ),
    ),
    "imdb": DatasetSpec(
        "imdb",
        "IMDb Large Movie Review Dataset v1.0",
        (
            SourceOption(
                "published",
                "imdb-tarball",
                (
                    SourceFile(
                        "imdb/aclImdb_v1.tar.gz",
                        "archive",
                        "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                        "exact",
                        84_125_825,
                        "the published aclImdb_v1 archive",
                        ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                    ),
                ),
            ),
            SourceOption(
                "repacked",
                "imdb-tarball",
                (
                    SourceFile(
                        "imdb/aclImdb_repacked.tar.gz",
                        "archive",
                        "bc97a5760057748a52ca45e60df14b065f15d5328e266b843779f38d16164e34",
                        "repacked",
                        28_630_985,
                        "aclImdb repacked archive (members identical to the published ones)",
                    ),
                ),
            ),
        ),
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; ConfigError for an unknown dataset."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"dataset: unknown {name!r} (known: {', '.join(REGISTRY)})") from None


def resolve_local_dir(configured: str | os.PathLike[str] | None) -> Path | None:
    """The local dataset folder: config key ``datasets.local_dir`` if set, else $CONVSTUDY_DATA_DIR."""
    value = configured if configured not in (None, "") else os.environ.get(LOCAL_DIR_ENV) or None
    return Path(value).expanduser() if value is not None else None


def verify(path: str | Path, sha256: str, what: str = "") -> str:
    """Check that ``path`` exists and its sha256 is ``sha256``; return the digest.

    Raises:
        DataError: ``"<path>: sha256 <got>, expected <want> (<what>)"`` or ``"<path>: missing"``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing" + (f" ({what})" if what else ""))
    got = sha256_file(path)
    if got != sha256.lower():
        raise DataError(f"{path}: sha256 {got}, expected {sha256}" + (f" ({what})" if what else ""))
    return got


class LogProgress:
    """A pooch progress bar that logs about every 10 % (job logs have no terminal)."""

    def __init__(self, url: str) -> None:
        self.url, self.total, self.done, self.next_report = url, 0, 0, 0.1

    def update(self, n: int) -> None:
        self.done += n
        if self.total and self.done / self.total >= self.next_report:
            logger.info(
                "%s: %3.0f%% of %d bytes", self.url, 100 * self.done / self.total, self.total
            )
            self.next_report = (int(10 * self.done / self.total) + 1) / 10

    def reset(self) -> None:
        self.done, self.next_report = 0, 0.1

    def close(self) -> None:
        logger.info("%s: %d bytes received", self.url, self.done)


def fetch(url: str, dest: str | Path, sha256: str, what: str = "", timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and verify its sha256, with pooch.

    An existing ``dest`` with the right checksum is kept. pooch downloads into a temporary
    file beside ``dest`` and moves it into place only once the checksum matched, so
    ``dest`` never holds a partial or wrong file.

    Raises:
        DataError: the download failed, or its bytes have another checksum.
    """
    import pooch
    import requests

    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == sha256:
        logger.info("%s: already present and verified", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    downloader = pooch.HTTPDownloader(progressbar=LogProgress(url), timeout=timeout)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            fname=dest.name,
            path=dest.parent,
            downloader=downloader,
        )
    except ValueError as error:  # pooch's checksum mismatch; it deleted the download
        found = re.search(r"but got (\w+)", str(error))
        got = found[1] if found else "another value"
        raise DataError(f"{dest}: sha256 {got}, expected {sha256} ({what or url})") from error
    except (requests.RequestException, OSError) as error:
        raise DataError(f"{url}: download failed ({error})") from error
    logger.info("%s: downloaded from %s and verified", dest, url)
    return dest


def _describe_options(spec: DatasetSpec, base: Path) -> str:
    """'a (exact) | b + c (lossy)': the file sets accepted under ``base``."""
    return " | ".join(
        " + ".join(str(base / f.relpath) for f in opt.files) + f" ({opt.exactness})"
        for opt in spec.options
    )


def locate(dataset: str, local_dir: str | Path | None, raw_dir: str | Path) -> list[ResolvedSource]:
    """Find the source files of ``dataset`` on disk (no checksum check; see :func:`verify`).

    With ``local_dir``, the first complete option there (registry order: exact before
    repacked before lossy) wins and ``raw_dir`` is not consulted. Without it, the
    publisher's files that :func:`convstudy.data.prepare.fetch_dataset` put in ``raw_dir``.

    Raises:
        DataError: a file is missing; the message names the full path and the accepted files.
    """
    spec = dataset_spec(dataset)
    if local_dir is not None:
        base = Path(local_dir)
        for option in spec.options:
            if all((base / f.relpath).is_file() for f in option.files):
                origin = f"local folder {base}"
                return [ResolvedSource(base / f.relpath, f, option, origin) for f in option.files]
        # Name the first missing file of the most complete option, then everything accepted.
        best = max(spec.options, key=lambda o: sum((base / f.relpath).is_file() for f in o.files))
        missing = next(base / f.relpath for f in best.files if not (base / f.relpath).is_file())
        raise DataError(
            f"{missing}: missing; {dataset} in a local folder is accepted as one of: "
            f"{_describe_options(spec, base)}"
        )
    base = Path(raw_dir)
    option = spec.publisher
    for f in option.files:
        if not (base / f.relpath).is_file():
            raise DataError(
                f"{base / f.relpath}: missing ({f.description}); download it with "
                f"fetch_dataset({dataset!r}, {str(base)!r}) or set a local folder"
            )
    return [ResolvedSource(base / f.relpath, f, option, f.urls[0]) for f in option.files]


def verify_local_copy(
    local_dir: str | Path, datasets: list[str], cache: str | Path | None = None
) -> None:
    """Verify the files of ``datasets`` in the local copy ``local_dir`` before anything runs,
    so that a corrupt copy is refused while the prepared data made from a good one stands.

    ``cache`` (a JSON file) remembers the sha256 of every file verified, by path, size,
    inode and modification time: a copy is hashed once, then only when a file changes.

    Raises:
        DataError: a missing file or another sha256 (naming the file and both checksums).
    """
    import json

    known: dict[str, str] = {}
    cache_path = Path(cache) if cache is not None else None
    if cache_path is not None and cache_path.is_file():
        try:
            known = dict(json.loads(cache_path.read_text()))
        except (ValueError, OSError):
            known = {}
    verified: dict[str, str] = {}
    for dataset in datasets:
        for found in locate(dataset, local_dir, local_dir):
            stat = found.path.stat()
            key = f"{found.path.resolve()}|{stat.st_size}|{stat.st_ino}|{stat.st_mtime_ns}"
            if known.get(key) == found.entry.sha256:
                verified[key] = found.entry.sha256
                continue
            verified[key] = verify(found.path, found.entry.sha256, found.entry.description)
    if cache_path is not None and verified != known:
        from convstudy.atomic import atomic_output

        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache_path) as tmp:
            tmp.write_text(json.dumps({**known, **verified}, indent=1, sort_keys=True))
