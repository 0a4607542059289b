"""Binomial bounds on a rule's precision, without scipy (the rule layer's allowed imports).

`clopper_pearson_lower` is the exact one-sided bound that a learned rule's claim rests on: the
beta quantile is found by bisection on the regularized incomplete beta function (a continued
fraction, Numerical Recipes §6.4), which is accurate to ~1e-12 and fast enough for the few dozen
rules a suggestion run measures. `wilson_lower` is the cheap vectorised bound used only to screen
thousands of candidate conditions on the mining slice, where no claim is made.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_TINY = 1e-300
_EPS = 1e-15


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def clopper_pearson_lower(successes: int, n: int, confidence: float) -> float:
    """One-sided lower bound L with P(precision ≥ L) ≥ confidence (exact binomial)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if successes == 0:
        return 0.0
    alpha = 1.0 - confidence
    if successes == n:
        return alpha ** (1.0 / n)
    a, b = float(successes), float(n - successes + 1)
    lo, hi = 0.0, 1.0
    for _ in range(200):  # I_p(a, b) rises with p; find I_p = alpha
        mid = (lo + hi) / 2
        if betainc(a, b, mid) < alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return lo


def min_correct_to_clear(n: int, bar: float, confidence: float) -> int | None:
    """Fewest right records out of n whose Clopper–Pearson lower bound reaches the bar (None:
    not even n of n does)."""
    if n <= 0 or clopper_pearson_lower(n, n, confidence) < bar:
        return None
    lo, hi = 0, n  # the bound rises with the count: find the first count that clears
    while lo < hi:
        mid = (lo + hi) // 2
        if clopper_pearson_lower(mid, n, confidence) >= bar:
            hi = mid
        else:
            lo = mid + 1
    return lo


def pass_probability(n: int, precision: float, bar: float, confidence: float) -> float:
    """Chance that n records of a rule with this true precision show a bound ≥ bar."""
    need = min_correct_to_clear(n, bar, confidence)
    if need is None:
        return 0.0
    if need == 0:
        return 1.0
    return betainc(float(need), float(n - need + 1), min(max(precision, 0.0), 1.0))


def min_records_to_clear(bar: float, confidence: float) -> int:
    """Fewest records that can show precision ≥ bar even when all are right: α^(1/n) ≥ bar."""
    if bar <= 0.0:
        return 1
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(bar) - 1e-12))


def wilson_lower(successes: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Wilson score lower bound, elementwise; 0 where n == 0."""
    z = NormalDist().inv_cdf(confidence)
    s = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / m
        denom = 1.0 + z * z / m
        centre = p + z * z / (2.0 * m)
        half = z * np.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m))
        out = (centre - half) / denom
    return np.where(m > 0, np.clip(out, 0.0, 1.0), 0.0)
