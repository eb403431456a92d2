"""Framework-neutral IMDb tokenisation, so that PyTorch and Keras models see identical inputs.

The choices, all deterministic:

* :func:`tokenize`: lowercase; the HTML line breaks ``<br />`` that the reviews contain
  become spaces; a word is ``[a-z0-9]+(?:'[a-z0-9]+)*`` (so ``don't`` is one word, while
  punctuation and non-ASCII letters separate words).
* :func:`build_vocabulary`: index 0 is ``"<pad>"``, 1 is ``"<unk>"``, then the most
  frequent words of the training texts, ties broken alphabetically.
* :func:`encode`: unknown words map to 1; sequences are pre-padded with 0 and
  pre-truncated (the last ``seq_len`` tokens are kept), exactly like Keras
  ``pad_sequences(..., padding="pre", truncating="pre", value=0)``, its defaults.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from convstudy.errors import ConfigError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
_TOKEN = re.compile(TOKEN_PATTERN)

#: The settings above, for provenance records.
TOKENIZER_SETTINGS: dict[str, object] = {
    "lowercase": True,
    "replace": {"<br />": " "},
    "token_regex": TOKEN_PATTERN,
    "special_tokens": {PAD: PAD_ID, UNK: UNK_ID},
    "vocabulary_order": "descending training frequency, ties alphabetical",
    "padding": "pre",
    "truncating": "pre",
}


def tokenize(text: str) -> list[str]:
    """Lowercased words of ``text`` (``<br />`` counts as a space).

    >>> tokenize("Don't<br />stop: 10/10!")
    ["don't", 'stop', '10', '10']
    """
    return _TOKEN.findall(text.lower().replace("<br />", " "))


def build_vocabulary(token_lists: Iterable[Sequence[str]], vocab_size: int) -> list[str]:
    """Index -> word: ``["<pad>", "<unk>", most frequent words...]``.

    Words are ordered by descending count over all ``token_lists``, ties alphabetically,
    and cut so that the list has ``vocab_size`` entries (fewer when the texts hold fewer
    distinct words). Build it from the training split only, so that validation and test
    words the model never saw count as unknown.
    """
    if vocab_size < 3:
        raise ConfigError(f"vocab_size: {vocab_size}, need at least 3 (pad, unk, one word)")
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [PAD, UNK] + [word for word, _ in ranked[: vocab_size - 2]]


def encode(token_lists: Sequence[Sequence[str]], vocab: Sequence[str], seq_len: int) -> np.ndarray:
    """Token lists -> int32 array (N, seq_len) of vocabulary indices.

    Words outside ``vocab`` become 1 (``<unk>``). Shorter sequences are padded with 0 at
    the front; longer ones keep their LAST ``seq_len`` tokens (Keras ``pad_sequences``
    defaults), so a review's ending, often its verdict, survives truncation.
    """
    if seq_len < 1:
        raise ConfigError(f"seq_len: {seq_len}, need at least 1")
    index = {word: i for i, word in enumerate(vocab)}
    out = np.full((len(token_lists), seq_len), PAD_ID, dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        ids = [index.get(token, UNK_ID) for token in tokens[-seq_len:]]
        if ids:  # out[row, -0:] would be the whole row
            out[row, -len(ids) :] = ids
    return out
