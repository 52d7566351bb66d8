"""The figures managers read, with their uncertainty: means, shares, NPS and percentiles.

Inputs are tallies (counts and sums), which is what the SQL in `figures.py` returns; nothing
here loops over responses. Every figure carries its 95% confidence interval and says when
there are too few answers to show one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import t as student_t

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A figure and its 95% interval; `value` is None when `n` is below the minimum."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def enough(self) -> bool:
        return self.value is not None


def _too_few(n: int) -> Estimate:
    return Estimate(None, None, None, n)


def mean(n: int, total: float, total_sq: float, minimum: int = 1) -> Estimate:
    """Mean of answers from their count, sum and sum of squares; Student's t interval."""
    if n < max(minimum, 1):
        return _too_few(n)
    average = total / n
    if n == 1:
        return Estimate(average, None, None, n)
    variance = max(total_sq - n * average * average, 0.0) / (n - 1)
    half = student_t.ppf(0.975, n - 1) * math.sqrt(variance / n)
    return Estimate(average, average - half, average + half, n)


def share(k: int, n: int, minimum: int = 1) -> Estimate:
    """Share `k/n` in percent with the Wilson score interval (sound near 0% and 100%)."""
    if n < max(minimum, 1):
        return _too_few(n)
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(100 * p, 100 * max(centre - half, 0.0), 100 * min(centre + half, 1.0), n)


def nps(promoters: int, detractors: int, n: int, minimum: int = 1) -> Estimate:
    """Net Promoter Score (−100…100): % promoters (9–10) minus % detractors (0–6).

    Interval from the variance of a per-answer score of +1 / 0 / −1:
    (p + d − (p − d)²) / n.
    """
    if n < max(minimum, 1):
        return _too_few(n)
    p, d = promoters / n, detractors / n
    score = p - d
    half = Z95 * math.sqrt(max(p + d - score * score, 0.0) / n)
    return Estimate(100 * score, 100 * max(score - half, -1.0), 100 * min(score + half, 1.0), n)


def correlation(
    n: int, sx: float, sy: float, sxx: float, syy: float, sxy: float, minimum: int = 1
) -> Estimate:
    """Pearson's r from the sums of x, y, x², y² and xy over n pairs, with the 95% interval
    of Fisher's z; no figure for fewer than `minimum` (or 4) pairs or a constant answer."""
    if n < max(minimum, 4):
        return _too_few(n)
    spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
    if spread <= 0:
        return _too_few(n)
    r = max(-1.0, min(1.0, (n * sxy - sx * sy) / math.sqrt(spread)))
    z, half = math.atanh(min(max(r, -0.999999), 0.999999)), Z95 / math.sqrt(n - 3)
    return Estimate(r, math.tanh(z - half), math.tanh(z + half), n)


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The p-th quantile (0–1) of sorted values, interpolated as numpy's default does."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * p
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def ratio(k: int, n: int) -> float | None:
    """A plain share in percent, or None for an empty denominator."""
    return 100 * k / n if n else None
