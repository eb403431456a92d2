"""Counter-fitting (Mrkšić et al., NAACL 2016) of word vectors to linguistic constraints.

The genetic attack's recipe uses the publisher's counter-fitted vectors. Where that file
cannot be had, the same procedure is applied here to the vectors at hand (GloVe 6B 50-d),
with the publisher's own constraints, vocabulary and hyperparameters
(``nmrksic/counter-fitting`` at commit ``8cf3cf4``, files listed in :data:`INPUTS`). The
result is "GloVe-50d counter-fitted with the published constraints", not the published
file: rows say so.

The objective, for unit-length vectors ``v`` and cosine distance ``d(u, v) = 1 - u.v``:

* antonym repel (AR), weight ``hyper_k1``: an antonym pair is pushed apart while
  ``d < delta``;
* synonym attract (SA), weight ``hyper_k2``: a synonym pair is pulled together while
  ``d > gamma``;
* vector space preservation (VSP), weight ``hyper_k3``: a pair of words closer than
  ``rho`` in the starting vectors is pulled back while it is farther apart than it
  started.

It is optimised as the publisher's ``counterfitting.py`` does (:func:`sgd_step`,
:func:`counter_fit`): the same vocabulary, constraint handling, update rules, step
scaling, normalisation and 20 full-batch steps. Where this module differs, and why:

* the starting vectors: GloVe 6B 50-d from PyPI (the publisher's ``glove.txt`` and
  ``paragram.txt`` could not be obtained);
* the arithmetic: vectorised over pairs, sums in float64 (theirs a Python loop in float32,
  in set order), the same updates to about 1e-6 (``tests/test_counterfit.py``);
* the VSP pairs: searched over half the blocks (distances are symmetric), the same set;
* SimLex-999's Spearman's rho: ties share their mean rank (theirs ranks by position in a
  sorted list, breaking ties by order);
* no dialogue-ontology antonyms (optional there, and off in the published config).

Cost (numpy only): on the publisher's vocabulary (76,427 words, of which GloVe 6B has
71,815; the vectors are restricted to it, as the publisher's are) a run takes about 18 s
of CPU on two cores (40-55 s wall on busy ones) and 0.8 GB, most of it finding the 60,700
VSP pairs; the 20 steps take about 4 s.
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.atomic import atomic_output
from convstudy.attacks.embedding import GLOVE, PublishedFile, glove_checksum, load_vectors
from convstudy.errors import DataError

logger = logging.getLogger(__name__)

#: The publisher's optimisation: ``max_iter = 20`` full-batch steps in ``counter_fit``.
EPOCHS = 20
#: The publisher's normalisation: ``v / sqrt(|v|^2 + 1e-6)`` (``normalise_word_vectors``).
NORM_EPS = 1e-6
#: Changes whenever this module would compute different vectors from the same inputs
#: (part of the cache key).
ALGORITHM = "convstudy-counterfit-1"


def _published(path: str, blob: str) -> PublishedFile:
    return PublishedFile(
        repository="nmrksic/counter-fitting",
        commit="8cf3cf4db1074f2f80ecf728e6af68347c3b3d02",
        path=path,
        blob=blob,
    )


#: The publisher's inputs of the procedure, by their path in a local ``counter-fitting/``
#: folder (the layout of the shared data folder's ``SOURCE.md``), each with its path and
#: git blob id in the publisher's repository at commit ``8cf3cf4``.
INPUTS: dict[str, PublishedFile] = {
    "experiment_parameters.cfg": _published(
        "experiment_parameters.cfg", "9a13c86d184f6932198b6adad96da9e541cf17b3"
    ),
    "constraints/vocabulary.txt": _published(
        "linguistic_constraints/vocabulary.txt", "146de405f96d5f3d5d42165e4cfba62a06336bff"
    ),
    "constraints/ppdb_synonyms.txt": _published(
        "linguistic_constraints/ppdb_synonyms.txt", "90c095b53a2272b8fe5054b70db7edc237eeb846"
    ),
    "constraints/ppdb_antonyms.txt": _published(
        "linguistic_constraints/ppdb_antonyms.txt", "36c35cc8ae9a87b16d372f3c4156c52d437ed1ad"
    ),
    "constraints/wordnet_antonyms.txt": _published(
        "linguistic_constraints/wordnet_antonyms.txt", "59ce608ebd9c04a1497a378bd7f3142283fc7a75"
    ),
    "constraints/SimLex-999.txt": _published(
        "linguistic_constraints/SimLex-999.txt", "b642f3abe39c9ff1c9d6f942c917e47fd6c3801d"
    ),
}
#: How rows name the result.
NAME = f"{GLOVE} counter-fitted with the published constraints"


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """The six hyperparameters of the procedure (``[hyperparameters]`` of the publisher's
    ``experiment_parameters.cfg``)."""

    hyper_k1: float  # AR weight
    hyper_k2: float  # SA weight
    hyper_k3: float  # VSP weight
    delta: float  # antonyms are pushed apart up to this cosine distance
    gamma: float  # synonyms are pulled together down to this cosine distance
    rho: float  # VSP: pairs closer than this in the starting vectors


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What ``experiment_parameters.cfg`` says: the hyperparameters and the local paths
    (under :data:`INPUTS`) of the vocabulary and of the synonym and antonym lists."""

    hyperparameters: Hyperparameters
    vocabulary: str
    synonyms: tuple[str, ...]
    antonyms: tuple[str, ...]


def read_experiment(path: str | Path) -> Experiment:
    """Read the publisher's config (INI, values only; nothing in it is evaluated). Its
    file names (``linguistic_constraints/...``) are mapped to :data:`INPUTS`; any other
    name is refused. Its ``pretrained_vectors_filepath`` (the publisher's ``glove.txt`` or
    ``paragram.txt``, not obtainable here) is not read: the starting vectors are GloVe 6B
    50-d. Its optional dialogue ontology is commented out in the published file, and not
    supported here.

    Raises:
        DataError: a missing section or value, or a file that is not one of the inputs.
    """
    parser = configparser.RawConfigParser()
    try:
        with Path(path).open(encoding="utf-8") as handle:
            parser.read_file(handle)
        hyper = Hyperparameters(
            **{f.name: parser.getfloat("hyperparameters", f.name)
               for f in dataclasses.fields(Hyperparameters)}
        )  # fmt: skip
        # the publisher's parsing of a list: "[a, b]" -> ["a", "b"]
        lists = {
            key: [p for p in parser.get("data", key).strip("[] ").replace(" ", "").split(",") if p]
            for key in ("synonyms", "antonyms")
        }
        vocabulary = parser.get("data", "vocabulary_filepath").strip()
    except (configparser.Error, ValueError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: {str(error).splitlines()[0]}") from None
    by_publisher = {published.path: local for local, published in INPUTS.items()}

    def local(name: str) -> str:
        if name not in by_publisher:
            raise DataError(f"{path}: {name} is not one of the publisher's constraint files")
        return by_publisher[name]

    return Experiment(
        hyper,
        local(vocabulary),
        tuple(local(n) for n in lists["synonyms"]),
        tuple(local(n) for n in lists["antonyms"]),
    )


def read_vocabulary(path: str | Path) -> list[str]:
    """One word per line, stripped (the publisher's ``line.strip()``)."""
    text = Path(path).read_text(encoding="utf-8")
    return [w for w in (line.strip() for line in text.splitlines()) if w]


def read_pairs(path: str | Path, index: Mapping[str, int]) -> np.ndarray:
    """The word pairs of a constraints file (two words a line) whose words both have a
    vector, as index pairs in both orders, without duplicates or self-pairs (the
    publisher's ``load_constraints``). Lines with fewer than two words are skipped."""
    pairs = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in index and words[1] in index and words[0] != words[1]:
            i, j = index[words[0]], index[words[1]]
            pairs |= {(i, j), (j, i)}
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """The publisher's normalisation (``normalise_word_vectors``), float32."""
    v = np.asarray(vectors, dtype=np.float64)
    return (v / np.sqrt((v**2).sum(axis=1, keepdims=True) + NORM_EPS)).astype(np.float32)


def vsp_pairs(vectors: np.ndarray, rho: float, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of distinct words at cosine distance <= ``rho`` in ``vectors``
    (unit length), with that distance (the publisher's ``compute_vsp_pairs``: dot >=
    1 - rho). Computed in row blocks against the rows from the block on (the distances
    are symmetric: half the work of the publisher's loop over all block pairs).

    The pairs are chosen on float32 dot products, as there; their distances are then
    computed as :func:`sgd_step` computes distances, so that in the first step, before
    anything moved, every pair is exactly at its starting distance and, as the
    publisher's ``original_distance <= new_distance`` says, pulled (there the two float32
    dot products may differ in the last bit, either way)."""
    n, threshold = len(vectors), np.float32(1.0 - rho)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        product = vectors[start:stop] @ vectors[start:].T  # float32, as the publisher's
        rows, cols = np.nonzero(product >= threshold)
        upper = cols > rows  # column offset `start` cancels: j > i within the slice
        left.append(rows[upper] + start)
        right.append(cols[upper] + start)
    i, j = np.concatenate(left), np.concatenate(right)
    pairs = np.concatenate([np.stack([i, j], 1), np.stack([j, i], 1)]).astype(np.int64)
    return pairs, 1.0 - _pair_dots(vectors.astype(np.float64), pairs)


def _pair_dots(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The dot product of each pair's vectors."""
    return np.asarray(np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]]))


def _without(pairs: np.ndarray, removed: np.ndarray, n: int) -> np.ndarray:
    """The rows of ``pairs`` not in ``removed`` (both (P, 2) index arrays)."""
    keep = ~np.isin(pairs[:, 0] * n + pairs[:, 1], removed[:, 0] * n + removed[:, 1])
    return np.asarray(keep)


def _cosine_gradient(u: np.ndarray, v: np.ndarray, dot: np.ndarray) -> np.ndarray:
    """d/du of the cosine distance 1 - u.v/(|u||v|) at unit-length u and v: u (u.v) - v
    (the publisher's ``vector_partial_gradient`` with ``normalised_vectors=True``)."""
    return np.asarray(u * dot[:, None] - v)


def sgd_step(
    vectors: np.ndarray,
    synonyms: np.ndarray,
    antonyms: np.ndarray,
    vsp: np.ndarray,
    vsp_distance: np.ndarray,
    hyper: Hyperparameters,
) -> np.ndarray:
    """One step of the publisher's ``one_step_SGD``, vectorised over pairs.

    As there: every distance is taken on the vectors at the start of the step (full
    batch); for an ordered antonym pair (i, j) at distance < delta, ``k1`` times the
    gradient of d(i, j) is added to i (pushed away from j); for an ordered synonym pair
    (i, j) at distance > gamma, ``k2`` times the gradient of d(j, i) is subtracted from j
    (pulled towards i); for an ordered VSP pair (i, j) whose distance is no longer below
    its starting distance, ``k3`` times the gradient of d(i, j) is subtracted from i.
    Each word's summed update is divided by the number of terms that moved it ("scaling
    the update term for each word helps with convergence speed"), added, and all
    vectors are normalised again.

    Differs: sums are taken in float64 (the publisher's in float32, in dict order);
    vectors stay float32 between steps, as there.
    """
    v = vectors.astype(np.float64)
    n, dim = v.shape
    total = np.zeros((n, dim))
    count = np.zeros(n)

    def apply(target: np.ndarray, other: np.ndarray, active: np.ndarray, dot: np.ndarray,
              weight: float) -> None:  # fmt: skip
        t, o = target[active], other[active]
        gradient = weight * _cosine_gradient(v[t], v[o], dot[active])
        np.add.at(total, t, gradient)
        np.add.at(count, t, 1.0)

    # AR: ascend the distance of antonyms closer than delta
    dot = _pair_dots(v, antonyms)
    apply(antonyms[:, 0], antonyms[:, 1], 1.0 - dot < hyper.delta, dot, hyper.hyper_k1)
    # SA: descend the distance of synonyms farther than gamma (the publisher moves j)
    dot = _pair_dots(v, synonyms)
    apply(synonyms[:, 1], synonyms[:, 0], 1.0 - dot > hyper.gamma, dot, -hyper.hyper_k2)
    # VSP: descend the distance of neighbours that drifted apart
    dot = _pair_dots(v, vsp)
    apply(vsp[:, 0], vsp[:, 1], vsp_distance <= 1.0 - dot, dot, -hyper.hyper_k3)

    moved = count > 0
    v[moved] += total[moved] / count[moved, None]
    return normalise(v)


@dataclasses.dataclass(frozen=True)
class Result:
    """Counter-fitted vectors and what went into them."""

    words: list[str]
    vectors: np.ndarray
    synonyms: np.ndarray  # ordered index pairs, antonyms removed
    antonyms: np.ndarray
    vsp_pairs: int
    epochs: int
    seconds: dict[str, float]


def counter_fit(
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    synonyms: np.ndarray,
    antonyms: np.ndarray,
    hyper: Hyperparameters,
    epochs: int = EPOCHS,
) -> Result:
    """The publisher's ``counter_fit``: normalise, find the VSP pairs (when ``hyper_k3``
    > 0), drop the antonym pairs from the synonyms and the VSP pairs, then ``epochs``
    full-batch steps (:func:`sgd_step`).

    Args:
        words: the vocabulary, one per row of ``vectors``.
        vectors: the starting vectors (any length; normalised here, as the publisher's
            ``load_word_vectors`` does).
        synonyms, antonyms: ordered index pairs (both orders), as :func:`read_pairs`.
        hyper: the hyperparameters.
        epochs: full-batch steps.
    """
    start = time.perf_counter()
    v = normalise(vectors)
    n = len(v)
    if hyper.hyper_k3 > 0.0:
        vsp, vsp_distance = vsp_pairs(v, hyper.rho)
    else:
        vsp, vsp_distance = np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    keep = _without(vsp, antonyms, n)
    vsp, vsp_distance = vsp[keep], vsp_distance[keep]
    synonyms = synonyms[_without(synonyms, antonyms, n)]
    found = time.perf_counter()
    logger.info(
        "counter-fitting %d words: %d antonym, %d synonym, %d VSP ordered pairs (%.1f s)",
        n, len(antonyms), len(synonyms), len(vsp), found - start,
    )  # fmt: skip
    for _ in range(epochs):
        v = sgd_step(v, synonyms, antonyms, vsp, vsp_distance, hyper)
    done = time.perf_counter()
    return Result(
        list(words), v, synonyms, antonyms, len(vsp), epochs,
        {"vsp_pairs": round(found - start, 2), "epochs": round(done - found, 2)},
    )  # fmt: skip


# ---- checks


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their mean rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return np.asarray((np.bincount(inverse, weights=ranks) / counts)[inverse])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho with mean ranks for ties (as ``scipy.stats.spearmanr``)."""
    return float(np.corrcoef(_ranks(np.asarray(a)), _ranks(np.asarray(b)))[0, 1])


def simlex_pairs(path: str | Path, index: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The SimLex-999 pairs whose words both have a vector (index pairs) and their
    ``SimLex999`` scores (column 4; the first line is the header)."""
    pairs, scores = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[0] in index and fields[1] in index:
            pairs.append((index[fields[0]], index[fields[1]]))
            scores.append(float(fields[3]))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(scores)


def _cosines(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(np.einsum("ij,ij->i", v[pairs[:, 0]], v[pairs[:, 1]]))


def quality(
    vectors: np.ndarray, *, simlex: tuple[np.ndarray, np.ndarray], synonyms: np.ndarray,
    antonyms: np.ndarray,
) -> dict[str, float]:  # fmt: skip
    """SimLex-999 Spearman's rho (cosine similarity against the SimLex999 scores; the
    publisher ranks by list position, which breaks ties by order, here ties share their
    mean rank) and the mean cosine of the antonym and of the synonym pairs."""
    pairs, scores = simlex
    return {
        "simlex_rho": round(spearman(_cosines(vectors, pairs), scores), 4),
        "simlex_pairs": len(pairs),
        "antonym_mean_cosine": round(float(_cosines(vectors, antonyms).mean()), 4),
        "synonym_mean_cosine": round(float(_cosines(vectors, synonyms).mean()), 4),
    }


# ---- the published constraints applied to GloVe-50d, cached


def write_vectors(path: str | Path, words: Sequence[str], vectors: np.ndarray) -> None:
    """The GloVe text format (``word v1 ... vd``, six decimals, as the publisher's
    ``print_word_vectors``), written atomically."""
    row = " ".join(["%.6f"] * vectors.shape[1])
    with atomic_output(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for word, vector in zip(words, vectors.astype(np.float64)):
            handle.write(f"{word} {row % tuple(vector)}\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(inputs: Mapping[str, PublishedFile], start: str) -> str:
    """What the result depends on: the inputs' blob ids, the starting vectors' checksum,
    the procedure."""
    facts = {
        "inputs": {name: published.blob for name, published in sorted(inputs.items())},
        "start": start,
        "algorithm": ALGORITHM,
        "epochs": EPOCHS,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def glove_counter_fitted(
    inputs: Mapping[str, Path], cache_dir: str | Path
) -> tuple[Path, dict[str, Any]]:
    """GloVe 6B 50-d counter-fitted with the publisher's constraints, vocabulary and
    hyperparameters; made once and kept in ``cache_dir`` under a name keyed by
    :func:`cache_key`, with a JSON beside it (what it was made from, checksums,
    hyperparameters, epochs, the checks before and after, seconds).

    Args:
        inputs: the local path of every file of :data:`INPUTS`, already verified by its
            git blob id.
        cache_dir: where the result is kept.

    Returns:
        The vectors file (GloVe text format) and its JSON record.

    Raises:
        DataError: the result fails its checks (SimLex-999 rho, antonym and synonym mean
            cosines must all move the right way): a bug, not a finding.
    """
    start = f"{GLOVE}:sha256:{glove_checksum()}"
    key = cache_key(INPUTS, start)
    out = Path(cache_dir) / f"counter-fitted-{GLOVE}-{key[:16]}.txt"
    meta = out.with_suffix(".json")
    if out.is_file() and meta.is_file():
        record: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
        if record.get("sha256") == _sha256(out) and record.get("key") == key:
            logger.info("%s: counter-fitted vectors from the cache", out)
            return out, record
        logger.warning("%s: does not match its record %s; made again", out, meta)
    began = time.perf_counter()
    experiment = read_experiment(inputs["experiment_parameters.cfg"])
    wanted = read_vocabulary(inputs[experiment.vocabulary])
    # the publisher restricts the vectors to its vocabulary (76,427 words), as here
    words, matrix = load_vectors(GLOVE, wanted)
    index = {w: i for i, w in enumerate(words)}

    def union(names: Sequence[str]) -> np.ndarray:
        parts = [read_pairs(inputs[name], index) for name in names]
        return np.unique(np.concatenate(parts), axis=0)

    synonyms, antonyms = union(experiment.synonyms), union(experiment.antonyms)
    simlex = simlex_pairs(inputs["constraints/SimLex-999.txt"], index)
    result = counter_fit(
        words, matrix, synonyms=synonyms, antonyms=antonyms, hyper=experiment.hyperparameters
    )
    # the constraints' pairs as the procedure sees them: one order each
    syn, ant = (p[p[:, 0] < p[:, 1]] for p in (result.synonyms, result.antonyms))
    before = quality(normalise(matrix), simlex=simlex, synonyms=syn, antonyms=ant)
    after = quality(result.vectors, simlex=simlex, synonyms=syn, antonyms=ant)
    checks = {
        "simlex_rho_rises": after["simlex_rho"] > before["simlex_rho"],
        "antonym_mean_cosine_falls": after["antonym_mean_cosine"] < before["antonym_mean_cosine"],
        "synonym_mean_cosine_rises": after["synonym_mean_cosine"] > before["synonym_mean_cosine"],
    }
    if not all(checks.values()):
        raise DataError(f"{out}: counter-fitting failed its checks: before {before}, after {after}")
    write_vectors(out, words, result.vectors)
    record = {
        "name": NAME,
        "key": key,
        "sha256": _sha256(out),
        "algorithm": ALGORITHM,
        "method": "counter-fitting (Mrkšić et al., NAACL 2016), the publisher's update rules",
        "start": start,
        "inputs": {
            name: {
                "path": str(inputs[name]),
                "publisher": f"{p.repository}@{p.commit[:7]}:{p.path}",
                "git_blob_id": p.blob,
                "sha256": _sha256(Path(inputs[name])),
            }
            for name, p in INPUTS.items()
        },
        "hyperparameters": dataclasses.asdict(experiment.hyperparameters),
        "epochs": result.epochs,
        "words": len(words),
        "vocabulary": len(wanted),
        "pairs": {"synonyms": len(syn), "antonyms": len(ant), "vsp": result.vsp_pairs // 2},
        "before": before,
        "after": after,
        "checks": checks,
        "seconds": {**result.seconds, "total": round(time.perf_counter() - began, 2)},
    }
    logger.info("counter-fitted %s: before %s, after %s", out, before, after)
    with atomic_output(meta) as tmp:
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, record
