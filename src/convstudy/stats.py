"""The statistics the report puts beside its rates: Wilson intervals, the exact McNemar test
and an interval for the difference of two paired rates. Needs numpy and scipy only.

A rate is ``k`` of ``n`` inputs. Its interval is Wilson's score interval (95 %); it covers
the sampling of inputs, not the variation between seeds (each seed trains other models),
which the tables show as the standard deviation over seeds. Rates of several seeds or
models are pooled by adding their counts.

An attack's success before and after conversion is a pair of outcomes per input: the
attack succeeded on the original (o) and on the converted model (c). :class:`Paired` keeps
the four counts; S_o and S_c differ only through the discordant inputs, and McNemar's
exact test asks whether o-only and c-only inputs are equally likely (a two-sided binomial
test of the o-only count among the discordant ones, p = 1/2). Summing the counts of
several cells pools the test: under the null hypothesis every discordant input, whatever
its cell, is o-only with probability 1/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Two-sided 95 %: the normal quantile of 0.975.
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of the rate ``k / n``; (nan, nan) when ``n`` is 0."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"{k} successes of {n} trials")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at k = 0 or k = n one end is the rate itself; round-off must not move it
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def count(rate: float, n: int) -> int:
    """The number of inputs behind a rate of ``n`` inputs (rates are stored as k / n)."""
    return round(rate * n)


def mcnemar(original_only: int, converted_only: int) -> float:
    """Exact McNemar test: the two-sided p-value of ``original_only`` among the discordant
    inputs under p = 1/2; 1.0 without discordant inputs."""
    discordant = original_only + converted_only
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(original_only, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class Paired:
    """Per-input outcomes of one measurement on two models, as counts of ``n`` inputs:
    successes on the original and on the converted model, and the discordant inputs."""

    n: int
    k_original: int
    k_converted: int
    original_only: int
    converted_only: int

    def __post_init__(self) -> None:
        both = self.k_original - self.original_only
        if min(self.n, both, self.original_only, self.converted_only, self.neither) < 0 or (
            both != self.k_converted - self.converted_only
        ):
            raise ValueError(f"inconsistent paired counts: {self}")

    @classmethod
    def of(cls, original: object, converted: object) -> Paired:
        """From two boolean arrays (or sequences) of per-input outcomes."""
        import numpy as np

        o, c = np.asarray(original, dtype=bool), np.asarray(converted, dtype=bool)
        if o.shape != c.shape:
            raise ValueError(f"outcomes of {o.shape} and {c.shape} inputs")
        return cls(
            n=int(o.size), k_original=int(o.sum()), k_converted=int(c.sum()),
            original_only=int((o & ~c).sum()), converted_only=int((c & ~o).sum()),
        )  # fmt: skip

    def __add__(self, other: Paired) -> Paired:
        return Paired(
            self.n + other.n,
            self.k_original + other.k_original,
            self.k_converted + other.k_converted,
            self.original_only + other.original_only,
            self.converted_only + other.converted_only,
        )

    @property
    def both(self) -> int:
        return self.k_original - self.original_only

    @property
    def neither(self) -> int:
        return self.n - self.k_original - self.converted_only

    @property
    def p_value(self) -> float:
        """McNemar's exact test of S_o against S_c."""
        return mcnemar(self.original_only, self.converted_only)

    def difference(self) -> tuple[float, float, float]:
        """S_c - S_o with Newcombe's 95 % interval for the difference of paired rates
        (Newcombe 1998, method 10: the Wilson intervals of both rates, squared and added
        with the correlation of the pairs)."""
        if self.n == 0:
            return math.nan, math.nan, math.nan
        n = self.n
        p1, p2 = self.k_converted / n, self.k_original / n
        l1, u1 = wilson(self.k_converted, n)
        l2, u2 = wilson(self.k_original, n)
        # the 2x2 table of (converted, original): a both, b converted only, c original
        # only, d neither
        a, b, c, d = self.both, self.converted_only, self.original_only, self.neither
        denominator = (a + b) * (c + d) * (a + c) * (b + d)
        cross = a * d - b * c
        # the correlation of the pairs, with Newcombe's continuity correction of a
        # positive one (as Fagerland, Lydersen and Laake 2017 give his method)
        if not denominator or 0 <= cross <= n / 2:
            phi = 0.0
        else:
            phi = (cross - n / 2 if cross > 0 else cross) / math.sqrt(denominator)
        below = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
        above = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
        theta = p1 - p2
        return theta, max(theta - below, -1.0), min(theta + above, 1.0)

    def abs_difference(self) -> tuple[float, float, float]:
        """|S_c - S_o| and its 95 % interval (the interval of the difference, folded at 0)."""
        theta, low, high = self.difference()
        if math.isnan(theta):
            return theta, low, high
        if low <= 0 <= high:
            return abs(theta), 0.0, max(-low, high)
        return abs(theta), min(abs(low), abs(high)), max(abs(low), abs(high))
