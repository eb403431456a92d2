"""RQ1 metrics between the last-layer outputs of an original (y_o) and a converted (y_c) model.

The models end in a linear layer, so their raw outputs are logits. The published study
measured the outputs as shipped, softmax probabilities for these classifiers; every error
metric is therefore computed in both spaces, named by its space (``abs_error_prob``,
``abs_error_logit``), with the softmax applied identically to both models' outputs in
float64. Errors are averaged over output elements, then over samples, as published.

A sample whose outputs contain NaN or infinity (e.g. an FP16 overflow) has no label and no
error: it is counted (``nonfinite_samples``), it counts as wrong for accuracy and as a
disagreement, and the error means run over the other samples only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: The spaces every error metric is computed in.
SPACES = ("prob", "logit")
#: Error metrics computed in each space (column = f"{name}_{space}").
ERRORS = ("abs_error", "max_abs_error", "rel_error_published", "rel_error_norm", "norm_max_error")


def finite_rows(outputs: np.ndarray) -> np.ndarray:
    """Per sample: True where every output is finite."""
    return np.asarray(np.isfinite(outputs).all(axis=1))


def labels(outputs: np.ndarray) -> np.ndarray:
    """Top-1 label per sample; -1 for a sample with a non-finite output (never argmax's 0)."""
    return np.where(finite_rows(outputs), np.nan_to_num(outputs).argmax(axis=1), -1)


def accuracy(outputs: np.ndarray, truth: np.ndarray) -> float:
    """Share of samples whose top-1 output is the label (non-finite outputs are wrong)."""
    return float(np.mean(labels(outputs) == truth))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (shifted by the row maximum, so it never overflows)."""
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


def absolute_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """mean over samples of mean over outputs of |y_c - y_o|."""
    return float(np.mean(np.abs(y_c - y_o), axis=1).mean())


def max_absolute_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """The largest |y_c - y_o| over every output of every sample."""
    return float(np.max(np.abs(y_c - y_o)))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where 0 / 0 is 0 and x / 0 is infinite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(num == 0, 0.0, num / den))


def relative_error_published(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """The published definition: mean of |y_c - y_o| / |y_o| over elements, then samples.

    Ill-defined where y_o is 0: such an element contributes 0 when y_c equals it too, and
    makes the result infinite otherwise. Near zero it explodes: on logits one element whose
    original value is close to 0 dominates a whole cell.
    """
    return float(np.mean(_ratio(np.abs(y_c - y_o), np.abs(y_o)), axis=1).mean())


def relative_error_norm(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """Scale-aware relative error: mean over samples of ||y_c - y_o||_2 / ||y_o||_2.

    One sample's error is measured against that sample's output scale, so a single
    near-zero element cannot dominate; infinite only when a sample's outputs are all 0
    and the converted ones are not.
    """
    num = np.linalg.norm(y_c - y_o, axis=1)
    return float(_ratio(num, np.linalg.norm(y_o, axis=1)).mean())


def normalised_max_error(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """Mean over samples of max|y_c - y_o| / max|y_o| (0 / 0 is 0, x / 0 infinite)."""
    num, den = np.max(np.abs(y_c - y_o), axis=1), np.max(np.abs(y_o), axis=1)
    return float(_ratio(num, den).mean())


def disagreement(y_o: np.ndarray, y_c: np.ndarray) -> float:
    """Share of samples whose top-1 label differs (a non-finite sample has no label, so it
    disagrees)."""
    return float(np.mean(labels(y_o) != labels(y_c)))


_ERROR_FUNCTIONS = {
    "abs_error": absolute_error,
    "max_abs_error": max_absolute_error,
    "rel_error_published": relative_error_published,
    "rel_error_norm": relative_error_norm,
    "norm_max_error": normalised_max_error,
}


#: How many of the source's top labels Kendall's tau ranks.
TOP_K = 5


def topk_kendall_tau(y_o: np.ndarray, y_c: np.ndarray, k: int = TOP_K) -> float:
    """Mean over samples of Kendall's tau (tau-b) between the original's and the converted
    model's scores of the original's top-``k`` labels (all labels when there are fewer): 1
    when the converted model ranks them alike. Samples whose scores tie throughout (tau
    undefined) or hold a NaN are left out; NaN when every sample is."""
    k = min(k, y_o.shape[1])
    top = np.argsort(-y_o, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(y_o))[:, None]
    values = kendall_tau_b(y_o[rows, top], y_c[rows, top])
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``a`` with the same row of ``b`` (NaN where either
    row ties throughout or holds a NaN), computed as ``scipy.stats.kendalltau`` computes it.

    Written here over all pairs of a row at once, because the rows are a handful of labels
    long: scipy's function takes one row per call (0.4 s for 10,000 rows) and importing
    ``scipy.stats`` alone costs 0.75 s of CPU in each of the study's ~170 comparison jobs.
    ``tests/test_metrics.py`` checks it against scipy's, ties, NaN and infinities included.
    """
    i, j = np.triu_indices(a.shape[1], k=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf, NaN rows: left out
        sign_a = np.where(a[:, i] == a[:, j], 0.0, np.sign(a[:, i] - a[:, j]))
        sign_b = np.where(b[:, i] == b[:, j], 0.0, np.sign(b[:, i] - b[:, j]))
        con_minus_dis = np.sum(sign_a * sign_b, axis=1)
        untied_a = len(i) - np.sum(sign_a == 0, axis=1)
        untied_b = len(i) - np.sum(sign_b == 0, axis=1)
        ratio = con_minus_dis / np.sqrt(untied_a) / np.sqrt(untied_b)
    nan_rows = np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1)
    defined = (untied_a > 0) & (untied_b > 0) & ~nan_rows
    tau = np.full(len(a), np.nan)
    tau[defined] = np.clip(ratio[defined], -1.0, 1.0)
    return tau


def compare_outputs(y_o: np.ndarray, y_c: np.ndarray) -> dict[str, float]:
    """Every RQ1 comparison metric, by column name.

    Columns: ``disagreement``, ``nonfinite_samples`` (samples with a NaN or infinite output
    in either model), and each of :data:`ERRORS` in each of :data:`SPACES` over the finite
    samples (NaN when no sample is finite).
    """
    if y_o.shape != y_c.shape:
        raise ValueError(f"output shapes differ: original {y_o.shape}, converted {y_c.shape}")
    y_o, y_c = y_o.astype(np.float64), y_c.astype(np.float64)
    finite = finite_rows(y_o) & finite_rows(y_c)
    row: dict[str, float] = {
        "disagreement": disagreement(y_o, y_c),
        "nonfinite_samples": float(np.sum(~finite)),
        "topk_tau": topk_kendall_tau(y_o, y_c),
    }
    spaces = {"logit": (y_o[finite], y_c[finite])}
    spaces["prob"] = (softmax(spaces["logit"][0]), softmax(spaces["logit"][1]))
    for space in SPACES:
        a, b = spaces[space]
        for name in ERRORS:
            row[f"{name}_{space}"] = _ERROR_FUNCTIONS[name](a, b) if len(a) else float("nan")
    return row


#: The comparison metrics a trigger may name (a pair is localized when one exceeds it).
TRIGGER_METRICS = ("disagreement", "rel_error_norm_logit", "rel_error_norm_prob")


def exceeded(metrics: Mapping[str, float], trigger: Mapping[str, float]) -> list[str]:
    """The trigger entries that ``metrics`` exceed, as ``"name value > limit"`` texts.

    Raises:
        KeyError: ``trigger`` names a metric outside :data:`TRIGGER_METRICS`.
    """
    unknown = sorted(set(trigger) - set(TRIGGER_METRICS))
    if unknown:
        raise KeyError(f"localization.trigger: unknown metric(s) {', '.join(unknown)}")
    return [
        f"{name} {metrics[name]:.3g} > {limit:g}"
        for name, limit in trigger.items()
        if metrics.get(name) is not None and metrics[name] > limit
    ]
