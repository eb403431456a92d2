"""The report's statistics: Wilson intervals, McNemar's exact test, paired differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convstudy.stats import Paired, count, mcnemar, wilson


def test_wilson_at_known_values() -> None:
    assert wilson(0, 16) == pytest.approx((0.0, 0.1936), abs=1e-4)
    assert wilson(8, 16) == pytest.approx((0.2800, 0.7200), abs=1e-4)
    assert wilson(16, 16) == pytest.approx((0.8064, 1.0), abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 3), (7, 100), (50, 100), (99, 100), (3, 1000)])
def test_wilson_is_scipys(k: int, n: int) -> None:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_a_rate_gives_back_its_count() -> None:
    assert [count(k / 37, 37) for k in range(38)] == list(range(38))


def test_mcnemar_exact() -> None:
    # 2 vs 12 discordant: 2 * P(X <= 2), X ~ Bin(14, 1/2) = 2 * (1 + 14 + 91) / 2**14
    assert mcnemar(2, 12) == pytest.approx(212 / 2**14)
    assert mcnemar(12, 2) == mcnemar(2, 12)
    assert mcnemar(0, 0) == 1.0 and mcnemar(3, 3) == 1.0
    assert mcnemar(0, 5) == pytest.approx(2 / 32)


def test_paired_counts_from_outcomes_and_pooled() -> None:
    o = np.array([1, 1, 1, 0, 0, 1], bool)
    c = np.array([1, 0, 1, 1, 0, 0], bool)
    paired = Paired.of(o, c)
    assert (paired.n, paired.k_original, paired.k_converted) == (6, 4, 3)
    assert (paired.original_only, paired.converted_only, paired.both, paired.neither) == (
        2,
        1,
        2,
        1,
    )
    pooled = paired + Paired.of(o[:2], c[:2])
    assert (pooled.n, pooled.original_only, pooled.converted_only) == (8, 3, 1)
    assert pooled.p_value == mcnemar(3, 1)
    with pytest.raises(ValueError):
        Paired(n=4, k_original=3, k_converted=1, original_only=0, converted_only=0)


def test_paired_difference_at_a_published_example() -> None:
    # Bentur et al. 2009 as Fagerland, Lydersen and Laake (Stat Med 2014) analyse it:
    # 1 both, 1 first only, 7 second only, 12 neither; Newcombe's interval for the
    # difference of the first rate minus the second: -0.286 (-0.507 to -0.026)
    paired = Paired(n=21, k_converted=2, k_original=8, converted_only=1, original_only=7)
    theta, low, high = paired.difference()
    assert (theta, low, high) == pytest.approx((-0.2857, -0.5069, -0.0256), abs=1e-4)
    size, low_abs, high_abs = paired.abs_difference()
    assert (size, low_abs, high_abs) == pytest.approx((0.2857, 0.0256, 0.5069), abs=1e-4)


def test_paired_difference_without_discordance() -> None:
    same = Paired.of(np.ones(16, bool), np.ones(16, bool))
    theta, low, high = same.difference()
    assert theta == 0.0 and low <= 0.0 <= high
    assert same.abs_difference()[1] == 0.0 and same.p_value == 1.0
    # swapping the two models negates the difference and its interval
    one = Paired(n=20, k_original=9, k_converted=5, original_only=5, converted_only=1)
    other = Paired(n=20, k_original=5, k_converted=9, original_only=1, converted_only=5)
    theta, low, high = one.difference()
    assert other.difference() == pytest.approx((-theta, -high, -low))
