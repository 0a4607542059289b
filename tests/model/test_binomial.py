"""The one binomial-interval helper agrees with the Clopper–Pearson formulas it replaced.

Before `model.binomial`, five modules each wrote the bounds as beta quantiles; these tests pin
that the scipy `binomtest` version gives the same numbers (to root-finding precision) at the
edges where hand-written copies tend to differ: k = 0, k = n, n = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta

from autoresolve.model.binomial import (
    interval,
    lower_bound,
    lower_bounds,
    precision_summary,
    upper_bound,
)

CASES = [(k, n) for n in (1, 2, 7, 50, 100, 1_000) for k in sorted({0, 1, n // 2, n - 1, n})]
LEVELS = (0.5, 0.9, 0.95, 0.99)
TOL = 1e-9


def old_two_sided(k: int, n: int, level: float) -> tuple[float, float]:
    """model/evaluation.py's and model/report.py's copy."""
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def old_upper(k: int, n: int, confidence: float) -> float:
    """model/certify.py's clopper_pearson_upper and model/retrain.py's precision_upper."""
    if n <= 0 or k >= n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))


def old_lower(k: int, n: int, confidence: float) -> float:
    """model/train.py's selection_coverage bound, one element."""
    return float(beta.ppf(1 - confidence, k, n - k + 1)) if k > 0 else 0.0


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("k", "n"), CASES)
def test_two_sided_matches_the_beta_quantiles(k: int, n: int, level: float) -> None:
    lo, hi = interval(k, n, level)
    old_lo, old_hi = old_two_sided(k, n, level)
    assert lo == pytest.approx(old_lo, abs=TOL) and hi == pytest.approx(old_hi, abs=TOL)
    assert lo <= k / n <= hi


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("k", "n"), CASES)
def test_one_sided_bounds_match_the_beta_quantiles(k: int, n: int, level: float) -> None:
    assert upper_bound(k, n, level) == pytest.approx(old_upper(k, n, level), abs=TOL)
    assert lower_bound(k, n, level) == pytest.approx(old_lower(k, n, level), abs=TOL)


@pytest.mark.parametrize("level", LEVELS)
def test_vectorised_lower_bounds_match_the_scalar_ones(level: float) -> None:
    k = np.array([k for k, _ in CASES])
    n = np.array([n for _, n in CASES])
    got = lower_bounds(k, n, level)
    want = [lower_bound(int(a), int(b), level) for a, b in zip(k, n, strict=True)]
    assert got == pytest.approx(want, abs=TOL)


def test_edges() -> None:
    assert interval(0, 0) == (None, None)  # nothing measured
    assert upper_bound(0, 0, 0.9) == 1.0 and lower_bound(0, 0, 0.9) == 0.0
    assert upper_bound(10, 10, 0.9) == 1.0 and lower_bound(0, 10, 0.9) == 0.0
    lo, hi = interval(50, 50)
    assert hi == 1.0 and 0.9 < lo < 1.0
    assert interval(0, 10)[1] == pytest.approx(0.3085, abs=1e-3)  # the textbook 0/10 at 95 %
    up = upper_bound(90, 100, 0.9)
    assert 0.9 < up < 0.95 and upper_bound(900, 1000, 0.9) < up  # more data, tighter bound
    # one-sided at level c is the two-sided bound at level 2c - 1
    assert upper_bound(30, 40, 0.95) == pytest.approx(interval(30, 40, 0.90)[1], abs=TOL)


def test_impossible_counts_are_refused() -> None:
    for k, n in ((5, 4), (-1, 4), (0, -1)):
        with pytest.raises(ValueError, match="0 <= k <= n"):
            upper_bound(k, n, 0.9)


def test_precision_summary() -> None:
    assert precision_summary(np.array([], dtype=bool)) == {
        "precision": None,
        "low": None,
        "high": None,
        "n": 0,
    }
    s = precision_summary(np.array([True] * 19 + [False]))
    assert s["n"] == 20 and s["precision"] == 0.95
    assert s["low"] < 0.95 < s["high"] and not math.isnan(s["high"])
