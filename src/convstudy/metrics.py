"""RQ1 metrics between the last-layer outputs of an original (y_o) and a converted (y_c) model.

All outputs here are logits (the models have no softmax layer). Errors are averaged over
output elements, then over samples, as in the published study.
"""

from __future__ import annotations

import numpy as np

#: Floor of the companion relative error's denominator.
EPS = 1e-6


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose top-1 output is the label."""
    return float(np.mean(outputs.argmax(axis=1) == labels))


def absolute_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """mean over samples of mean over outputs of |y_c - y_o|."""
    return float(np.mean(np.abs(y_c - y_o), axis=1).mean())


def max_absolute_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """The largest |y_c - y_o| over every output of every sample."""
    return float(np.max(np.abs(y_c - y_o)))


def relative_error_published(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """The published definition: mean of |y_c - y_o| / |y_o|.

    Ill-defined where y_o is 0: such an element contributes 0 when y_c equals it too, and
    makes the result infinite otherwise. Near zero it explodes (a published value is 5.2e+05).
    """
    diff, denom = np.abs(y_c - y_o), np.abs(y_o)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / denom)
    return float(np.mean(ratio, axis=1).mean())


def relative_error_eps(y_o: np.ndarray, y_c: np.ndarray, eps: float = EPS) -> float:
    """Companion of the published error: mean of |y_c - y_o| / (|y_o| + eps); always finite."""
    return float(np.mean(np.abs(y_c - y_o) / (np.abs(y_o) + eps), axis=1).mean())


def normalised_max_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """Well-defined scale-free error: mean over samples of max|y_c - y_o| / max|y_o|.

    Zero when the outputs agree; a sample whose original outputs are all zero counts as
    0 if the converted ones are too, else as infinite.
    """
    num, den = np.max(np.abs(y_c - y_o), axis=1), np.max(np.abs(y_o), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(num == 0, 0.0, num / den)
    return float(ratio.mean())


def disagreement(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """Share of samples whose top-1 label differs between original and converted model."""
    return float(np.mean(y_o.argmax(axis=1) != y_c.argmax(axis=1)))


#: How many of the source's top labels Kendall's tau ranks.
TOP_K = 5


def topk_kendall_tau(y_o: np.ndarray, y_c: np.ndarray, k: int = TOP_K) -> float:
    """Mean over samples of Kendall's tau (tau-b, scipy) between the original's and the
    converted model's scores of the original's top-``k`` labels (all labels when there are
    fewer): 1 when the converted model ranks them alike. Samples whose scores tie
    throughout (tau undefined) are left out; NaN when every sample is."""
    from scipy.stats import kendalltau

    k = min(k, y_o.shape[1])
    top = np.argsort(-y_o, axis=1, kind="stable")[:, :k]
    taus = [kendalltau(o[labels], c[labels]).statistic for o, c, labels in zip(y_o, y_c, top)]
    values = np.asarray(taus, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def compare_outputs(y_o: np.ndarray, y_c: np.ndarray) -> dict[str, float]:
    """Every RQ1 comparison metric, by column name."""
    if y_o.shape != y_c.shape:
        raise ValueError(f"output shapes differ: original {y_o.shape}, converted {y_c.shape}")
    y_o, y_c = y_o.astype(np.float64), y_c.astype(np.float64)
    return {
        "abs_error": absolute_error(y_o, y_c),
        "max_abs_error": max_absolute_error(y_o, y_c),
        "rel_error_published": relative_error_published(y_o, y_c),
        "rel_error_eps": relative_error_eps(y_o, y_c),
        "norm_max_error": normalised_max_error(y_o, y_c),
        "disagreement": disagreement(y_o, y_c),
        "topk_tau": topk_kendall_tau(y_o, y_c),
    }
