"""Counter-fitting (Mrkšić et al., 2016): the update rules, the VSP pairs, the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import local_datasets

from convstudy.attacks import counterfit
from convstudy.errors import DataError

HYPER = counterfit.Hyperparameters(
    hyper_k1=0.1, hyper_k2=0.1, hyper_k3=0.1, delta=1.0, gamma=0.0, rho=0.2
)


def both(*pairs: tuple[int, int]) -> np.ndarray:
    return np.array([p for i, j in pairs for p in ((i, j), (j, i))], dtype=np.int64)


def cos(v: np.ndarray, i: int, j: int) -> float:
    return float(v[i] @ v[j] / np.linalg.norm(v[i]) / np.linalg.norm(v[j]))


def test_one_step_repels_antonyms_attracts_synonyms_and_pulls_back_drifted_neighbours() -> None:
    """Six words in 3-d: 0-1 antonyms at 0.8 cosine, 2-3 synonyms at right angles, 4-5
    neighbours that started at 0.99 and have drifted apart (0.9 now)."""
    angle = np.arccos(0.9)
    rows = [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    v = counterfit.normalise(np.array([*rows, rows[-1]]))
    # turn word 5 away from word 4 by arccos(0.9), in the plane of (1,1,1) and (1,-1,0)
    a, b = np.array([1.0, 1.0, 1.0]) / 3**0.5, np.array([1.0, -1.0, 0.0]) / 2**0.5
    v[5] = (np.cos(angle) * a + np.sin(angle) * b).astype(np.float32)
    vsp, vsp_distance = both((4, 5)), np.array([0.01, 0.01])
    new = counterfit.sgd_step(v, both((2, 3)), both((0, 1)), vsp, vsp_distance, HYPER)
    assert cos(new, 0, 1) < cos(v, 0, 1)  # antonyms apart
    assert cos(new, 2, 3) > cos(v, 2, 3)  # synonyms together
    assert cos(new, 4, 5) > cos(v, 4, 5)  # drifted neighbours back
    np.testing.assert_allclose(np.linalg.norm(new, axis=1), 1.0, atol=1e-6)
    # satisfied terms move nothing: antonyms at delta, neighbours closer than they started
    far = counterfit.sgd_step(
        v, np.zeros((0, 2), np.int64), both((2, 3)), vsp, np.array([0.5, 0.5]), HYPER
    )
    np.testing.assert_allclose(far, v, atol=1e-6)


def publisher_step(vectors: dict[str, np.ndarray], synonyms: set[tuple[str, str]],
                   antonyms: set[tuple[str, str]], vsp: dict[tuple[str, str], float],
                   h: counterfit.Hyperparameters) -> dict[str, np.ndarray]:  # fmt: skip
    """``one_step_SGD`` of nmrksic/counter-fitting@8cf3cf4 (counterfitting.py), as
    written there, with Python 3 syntax."""
    new = {w: v.copy() for w, v in vectors.items()}
    updates: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}

    def gradient(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.asarray(u * np.dot(u, v) - v)

    def add(word: str, term: np.ndarray) -> None:
        updates[word] = updates[word] + term if word in updates else term
        count[word] = count.get(word, 0) + 1

    for i, j in antonyms:
        if 1 - np.dot(new[i], new[j]) < h.delta:
            add(i, gradient(new[i], new[j]) * h.hyper_k1)
    for i, j in synonyms:
        if 1 - np.dot(new[i], new[j]) > h.gamma:
            add(j, -gradient(new[j], new[i]) * h.hyper_k2)
    for (i, j), original in vsp.items():
        if original <= 1 - np.dot(new[i], new[j]):
            add(i, -gradient(new[i], new[j]) * h.hyper_k3)
    for word, update in updates.items():
        new[word] = new[word] + update / count[word]
    return {w: v / np.sqrt((v**2).sum() + 1e-6) for w, v in new.items()}


def test_a_step_is_the_publishers_step() -> None:
    rng = np.random.default_rng(0)
    n, words = 40, [f"w{i}" for i in range(40)]
    v = counterfit.normalise(rng.normal(size=(n, 6)))
    # a shared direction makes some pairs neighbours within rho
    v = counterfit.normalise(v + 2.5 * np.ones(6, dtype=np.float32))
    picks = rng.choice(n, size=(30, 2))
    picks = picks[picks[:, 0] != picks[:, 1]]
    antonyms, synonyms = both(*map(tuple, picks[:10])), both(*map(tuple, picks[10:]))
    synonyms = synonyms[~np.isin(synonyms[:, 0] * n + synonyms[:, 1],
                                 antonyms[:, 0] * n + antonyms[:, 1])]  # fmt: skip
    vsp, vsp_distance = counterfit.vsp_pairs(v, HYPER.rho)
    assert len(vsp) > 10
    drifted = counterfit.normalise(v + 0.3 * rng.normal(size=v.shape).astype(np.float32))
    ours = counterfit.sgd_step(drifted, synonyms, antonyms, vsp, vsp_distance, HYPER)
    theirs = publisher_step(
        {w: drifted[i].astype(np.float64) for i, w in enumerate(words)},
        {(words[i], words[j]) for i, j in synonyms},
        {(words[i], words[j]) for i, j in antonyms},
        {(words[i], words[j]): d for (i, j), d in zip(vsp, vsp_distance)},
        HYPER,
    )
    np.testing.assert_allclose(ours, np.stack([theirs[w] for w in words]), atol=1e-6)


def test_vsp_pairs_are_every_pair_within_rho() -> None:
    rng = np.random.default_rng(1)
    v = counterfit.normalise(rng.normal(size=(300, 4)) + 1.0)
    pairs, distance = counterfit.vsp_pairs(v, 0.2, block=64)  # several blocks
    dots = v @ v.T
    expected = {(i, j) for i, j in zip(*np.nonzero(dots >= np.float32(0.8))) if i != j}
    assert {tuple(p) for p in pairs.tolist()} == expected and len(pairs) == len(expected)
    np.testing.assert_allclose(distance, 1 - dots[pairs[:, 0], pairs[:, 1]], atol=1e-6)


def test_counter_fit_drops_antonyms_from_synonyms_and_neighbours() -> None:
    v = counterfit.normalise(np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 1.0]]))
    result = counterfit.counter_fit(
        list("abcd"), v, synonyms=both((0, 1), (2, 3)), antonyms=both((0, 1)), hyper=HYPER,
        epochs=3,
    )  # fmt: skip
    assert {tuple(p) for p in result.synonyms.tolist()} == {(2, 3), (3, 2)}
    assert result.vsp_pairs == 2  # (2, 3) both ways; (0, 1) is an antonym pair
    assert cos(result.vectors, 0, 1) < cos(v, 0, 1) and cos(result.vectors, 2, 3) > cos(v, 2, 3)


def test_spearman_gives_ties_their_mean_rank() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 5, 50).astype(float), rng.normal(size=50)
    assert counterfit.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)


def test_constraint_files_are_read_as_the_publisher_reads_them(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("good great\ngood great \ngood good\ngood unknown\nlonely\n\nbad awful x\n")
    got = counterfit.read_pairs(pairs, {"good": 0, "great": 1, "bad": 2, "awful": 3})
    assert {tuple(p) for p in got.tolist()} == {(0, 1), (1, 0), (2, 3), (3, 2)}


def test_the_published_config_is_read_not_assumed(tmp_path: Path) -> None:
    data = local_datasets()
    if data is None:
        pytest.skip("no local dataset copy (set CONVSTUDY_DATA_DIR)")
    experiment = counterfit.read_experiment(data / "counter-fitting" / "experiment_parameters.cfg")
    assert experiment.hyperparameters == HYPER
    assert experiment.vocabulary == "constraints/vocabulary.txt"
    assert experiment.synonyms == ("constraints/ppdb_synonyms.txt",)
    assert experiment.antonyms == (
        "constraints/ppdb_antonyms.txt", "constraints/wordnet_antonyms.txt",
    )  # fmt: skip
    other = tmp_path / "other.cfg"
    text = (data / "counter-fitting" / "experiment_parameters.cfg").read_text()
    other.write_text(text.replace("ppdb_synonyms.txt", "mine.txt"))
    with pytest.raises(DataError, match="mine.txt is not one of the publisher's"):
        counterfit.read_experiment(other)
    other.write_text(text.replace("rho = 0.2", "rho = lots"))
    with pytest.raises(DataError, match="other.cfg"):
        counterfit.read_experiment(other)
