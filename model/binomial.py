"""Exact (Clopper–Pearson) confidence bounds on a proportion: the one place they are computed.

Certification, the retrain gates, evaluation, the deployment report and the replay all state a
precision or an error rate with a bound; they share these functions so they cannot drift apart.
Exact rather than Wilson or normal intervals because the interesting cases sit near 100 %
precision with small samples, where the approximations are too narrow.

Scalars go through scipy's `binomtest(k, n).proportion_ci(method="exact")`; the vectorised lower
bound used to rank estimators over every prefix of a sorted sample uses the equivalent beta
quantiles on arrays (`binomtest` takes one k at a time).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import beta, binomtest


def _check(k: int, n: int) -> None:
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n; got k={k}, n={n}.")


def interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Two-sided exact interval for k successes out of n; (None, None) when n = 0."""
    _check(k, n)
    if n == 0:
        return None, None
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def upper_bound(k: int, n: int, confidence: float) -> float:
    """One-sided upper bound on the rate k/n at `confidence`; 1.0 when n = 0 (nothing known)."""
    _check(k, n)
    if n == 0 or k == n:
        return 1.0
    ci = binomtest(k, n, alternative="less").proportion_ci(
        confidence_level=confidence, method="exact"
    )
    return float(ci.high)


def lower_bound(k: int, n: int, confidence: float) -> float:
    """One-sided lower bound on the rate k/n at `confidence`; 0.0 when n = 0 or k = 0."""
    _check(k, n)
    if n == 0 or k == 0:
        return 0.0
    ci = binomtest(k, n, alternative="greater").proportion_ci(
        confidence_level=confidence, method="exact"
    )
    return float(ci.low)


def lower_bounds(k: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """`lower_bound` elementwise over arrays of counts (0.0 where k = 0)."""
    k = np.asarray(k)
    n = np.asarray(n)
    return np.where(k > 0, beta.ppf(1 - confidence, np.maximum(k, 1), n - k + 1), 0.0)


def precision_summary(correct: np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Point estimate, two-sided interval and sample size of a boolean 'was it right' vector."""
    correct = np.asarray(correct, dtype=bool)
    n = int(correct.size)
    k = int(correct.sum())
    lo, hi = interval(k, n, confidence)
    return {"precision": (k / n) if n else None, "low": lo, "high": hi, "n": n}
