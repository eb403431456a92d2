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


def test_companion_relative_error_is_finite_at_zero() -> None:
    y_o = np.array([[0.0, 2.0]])
    value = metrics.relative_error_eps(y_o, np.array([[1e-9, 2.0]]))
    assert_allclose(value, (1e-9 / metrics.EPS + 0.0) / 2)
    assert math.isfinite(value)


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
    assert all(value == 0.0 for value in row.values())


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.compare_outputs(Y_O, Y_O[:, :2])
