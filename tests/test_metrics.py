"""RQ1 metrics on hand-computed cases, zeros included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from convstudy import metrics

Y_O = np.array([[1.0, -2.0, 4.0], [0.5, 0.5, -1.0]])
Y_C = np.array([[1.5, -2.0, 3.0], [0.5, 1.0, -1.0]])


def test_absolute_error_averages_elements_then_samples() -> None:
    # sample 1: (0.5 + 0 + 1) / 3 = 0.5; sample 2: (0 + 0.5 + 0) / 3 = 1/6
    assert_allclose(metrics.absolute_error(Y_O, Y_C), (0.5 + 1 / 6) / 2)
    assert metrics.max_absolute_error(Y_O, Y_C) == 1.0


def test_published_relative_error() -> None:
    # sample 1: (0.5/1 + 0/2 + 1/4) / 3 = 0.25; sample 2: (0 + 0.5/0.5 + 0) / 3 = 1/3
    assert_allclose(metrics.relative_error_published(Y_O, Y_C), (0.25 + 1 / 3) / 2)


def test_published_relative_error_at_zero() -> None:
    y_o = np.array([[0.0, 1.0]])
    assert metrics.relative_error_published(y_o, np.array([[0.0, 1.0]])) == 0.0  # 0/0: no error
    assert math.isinf(metrics.relative_error_published(y_o, np.array([[1e-9, 1.0]])))  # explodes


def test_scale_aware_relative_error_ignores_a_single_near_zero_output() -> None:
    y_o = np.array([[1e-9, 2.0]])
    y_c = np.array([[2e-9, 2.0]])
    # elementwise, the near-zero output alone gives 100 %; per sample it is 1e-9 / 2
    assert_allclose(metrics.relative_error_published(y_o, y_c), 0.5)
    assert_allclose(metrics.relative_error_norm(y_o, y_c), 1e-9 / np.hypot(1e-9, 2.0))
    zeros = np.zeros((1, 2))
    assert metrics.relative_error_norm(zeros, zeros) == 0.0
    assert math.isinf(metrics.relative_error_norm(zeros, zeros + 1))


def test_errors_are_reported_in_probability_and_logit_space() -> None:
    row = metrics.compare_outputs(Y_O, Y_C)
    assert_allclose(row["abs_error_logit"], metrics.absolute_error(Y_O, Y_C))
    p_o, p_c = metrics.softmax(Y_O), metrics.softmax(Y_C)
    assert_allclose(p_o.sum(axis=1), 1.0)
    assert_allclose(row["abs_error_prob"], metrics.absolute_error(p_o, p_c))
    assert row["abs_error_prob"] < row["abs_error_logit"]
    assert {f"{e}_{s}" for e in metrics.ERRORS for s in metrics.SPACES} <= set(row)


def test_softmax_does_not_overflow() -> None:
    assert_allclose(metrics.softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])


def test_nonfinite_outputs_have_no_label() -> None:
    outputs = np.array([[np.nan, 0.0, 0.0], [0.0, np.inf, 0.0], [0.0, 0.0, 1.0]])
    # argmax would call the NaN row class 0 and count it correct
    assert list(metrics.labels(outputs)) == [-1, -1, 2]
    assert metrics.accuracy(outputs, np.array([0, 1, 2])) == pytest.approx(1 / 3)
    row = metrics.compare_outputs(np.eye(3), outputs)
    assert row["nonfinite_samples"] == 2 and row["disagreement"] == pytest.approx(2 / 3)
    assert row["abs_error_logit"] == 0.0


def test_normalised_max_error() -> None:
    # sample 1: 1 / 4; sample 2: 0.5 / 1
    assert_allclose(metrics.normalised_max_error(Y_O, Y_C), (0.25 + 0.5) / 2)
    zeros = np.zeros((1, 3))
    assert metrics.normalised_max_error(zeros, zeros) == 0.0
    assert math.isinf(metrics.normalised_max_error(zeros, zeros + 1))


def test_disagreement_and_accuracy() -> None:
    # argmax: original [2, 0], converted [2, 1]: the second sample's label flips.
    assert metrics.disagreement(Y_O, Y_C) == 0.5
    assert metrics.accuracy(Y_O, np.array([2, 0])) == 1.0
    assert metrics.accuracy(Y_C, np.array([2, 0])) == 0.5


def test_identical_outputs_have_no_error() -> None:
    row = metrics.compare_outputs(Y_O, Y_O.copy())
    assert row.pop("topk_tau") == 1.0  # the same ranking of the top labels
    assert all(value == 0.0 for value in row.values())
    assert len(row) == 2 + len(metrics.ERRORS) * len(metrics.SPACES)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.compare_outputs(Y_O, Y_O[:, :2])


def test_kendall_tau_b_is_scipys_to_the_bit() -> None:
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    b = a + rng.normal(scale=0.5, size=a.shape)
    a[:50, 1] = a[:50, 0]  # ties in one row's scores
    b[50:100, :3] = 0.25  # ties in the other's
    b[100:110] = 1.0  # a row tied throughout: tau undefined
    a[110:120, 2] = np.inf  # infinite scores rank above every finite one
    b[115:120, 3] = np.inf
    b[120:125, 4] = -np.inf
    a[125:130, 0] = np.nan  # NaN rows: undefined, as scipy propagates them
    b[130:135, 4] = np.nan
    a[135:140] = np.round(a[135:140])  # integer-like scores, many ties
    b[135:140] = np.round(b[135:140])
    expected = [kendalltau(x, y).statistic for x, y in zip(a, b)]
    got = metrics.kendall_tau_b(a, b)
    np.testing.assert_array_equal(got, expected)  # NaN where scipy's is NaN; else the same bits
    assert np.isnan(got[100:110]).all() and np.isnan(got[125:135]).all()
    assert np.isfinite(got[:100]).all() and np.isfinite(got[110:125]).all()


def test_topk_tau_ranks_the_originals_top_labels() -> None:
    y_o = np.array([[0.1, 0.5, 0.2, 0.9, 0.0, 0.3]])
    # the top 5 of the original, in its order: labels 3, 1, 5, 2, 0; the converted model
    # swaps labels 5 and 2 (one discordant pair of 10): tau = (9 - 1) / 10
    y_c = np.array([[0.1, 0.5, 0.3, 0.9, 0.0, 0.2]])
    assert metrics.topk_kendall_tau(y_o, y_c) == pytest.approx(0.8)
    # label 4, outside the top 5, does not count
    assert metrics.topk_kendall_tau(y_o, y_c + np.array([[0, 0, 0, 0, 5.0, 0]])) == pytest.approx(
        0.8
    )
