"""Certification: a clear high-confidence region certifies, the test order is chosen for power on
data disjoint from the certification slice, and the guarantee still holds when nothing qualifies.

Synthetic scores (no model): a share of records sits in a high-confidence region with a fixed
precision, the rest have precision that rises with the score. Small samples, a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from mapie.risk_control._base_controller import ltt_procedure
from scipy.stats import binom

from autoresolve.model.certify import (
    candidate_grid,
    certify_threshold,
    exact_risk,
    fixed_sequence_test,
    projected_order,
)

TARGET, CONF = 0.95, 0.90


def _sample(rng: np.random.Generator, n: int, hi_precision: float, low_scale: float = 1.0):
    hi = rng.random(n) < 0.35
    scores = np.where(hi, rng.uniform(0.93, 1.0, n), rng.uniform(0.3, 0.93, n))
    p = np.where(hi, hi_precision, np.clip(scores * low_scale - 0.05, 0.0, 1.0))
    return scores, (rng.random(n) < p).astype(int)


def _certify(seed: int, *, hi_precision: float, n_learn: int, n_cert: int, fwer=None, **kw):
    rng = np.random.default_rng(seed)
    learn = _sample(rng, n_learn, hi_precision, **kw)
    scores, correct = _sample(rng, n_cert, hi_precision, **kw)
    grid = candidate_grid(learn[0], n_cert, min_accepted=20)
    return certify_threshold(
        scores,
        correct,
        target_precision=TARGET,
        confidence=CONF,
        candidates=grid,
        learn=learn,
        fwer=fwer,
    )


def test_clear_high_confidence_region_certifies() -> None:
    cert = _certify(0, hi_precision=0.985, n_learn=800, n_cert=1200)
    assert cert["threshold"] is not None, cert["reason"]
    assert cert["error_upper_bound"] <= 1 - TARGET
    assert cert["coverage"] >= 0.25
    assert cert["observed_precision"] >= TARGET


def test_order_starts_where_the_certification_slice_has_power() -> None:
    rng = np.random.default_rng(1)
    ls, lc = _sample(rng, 400, 0.985)
    n_cert = 600
    grid = candidate_grid(ls, n_cert, min_accepted=20)
    order, p = projected_order(grid, ls, lc, n_cert, TARGET)
    # The strictest candidates accept ~20 certification records: too few to ever pass.
    assert order[0] < grid[0]
    projected_accepted = (ls >= order[0]).mean() * n_cert
    assert projected_accepted >= 100
    assert np.all(np.diff(order) < 0)  # then loosens one candidate at a time
    assert p.min() == p[list(np.sort(grid)[::-1]).index(order[0])]


def test_projected_order_certifies_at_least_as_often_as_mapies_order() -> None:
    kw = {"hi_precision": 0.98, "n_learn": 300, "n_cert": 600}
    ours = sum(_certify(s, **kw)["threshold"] is not None for s in range(24))
    mapie = sum(
        _certify(s, fwer="split_fixed_sequence", **kw)["threshold"] is not None for s in range(24)
    )
    assert ours >= mapie
    assert ours >= 12


def test_no_region_at_target_rarely_certifies() -> None:
    # True precision 0.94 at every threshold: a certificate here is a false one, allowed with
    # probability ≤ 1 − confidence = 0.10 (LTT); 40 draws, bound with slack for sampling.
    kw = {"hi_precision": 0.94, "low_scale": 0.9, "n_learn": 600, "n_cert": 900}
    false = sum(_certify(s, **kw)["threshold"] is not None for s in range(40))
    assert false <= 8


def _block(score: float, n: int, wrong: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, score), np.r_[np.zeros(wrong, int), np.ones(n - wrong, int)]


def _joined(*blocks: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def test_certification_labels_never_reorder_the_test() -> None:
    # The learn sample puts λ = 0.9 first (clean above 0.9, half wrong below). On the
    # certification slice the top records are 20% wrong and the lower ones all right, so the
    # risk *falls* along the learned order 0.9 → 0.8 → 0.7: MAPIE's `fixed_sequence` reverses the
    # order on seeing that and passes 0.7; the learned order fails at its first λ.
    learn = _joined(_block(0.95, 300, 0), _block(0.85, 300, 150), _block(0.75, 300, 150))
    scores, correct = _joined(_block(0.95, 100, 20), _block(0.85, 500, 0), _block(0.75, 900, 0))
    grid = np.array([0.9, 0.8, 0.7])
    cert = certify_threshold(
        scores, correct, target_precision=TARGET, confidence=CONF, candidates=grid, learn=learn
    )
    assert cert["test_order"] == [0.9, 0.8, 0.7]
    assert cert["threshold"] is None, cert["reason"]
    assert "0.9000" in cert["reason"]

    # The hole this closes: MAPIE's `fixed_sequence` on the same risks picks the order itself.
    risk = np.array([1 - correct[scores >= lam].mean() for lam in grid])
    n_acc = np.array([(scores >= lam).sum() for lam in grid], dtype=float)
    reversed_ok, _p = ltt_procedure(
        risk[None, :],
        np.array([[1 - TARGET]]),
        1 - CONF,
        n_acc[None, :],
        True,
        fwer_method="fixed_sequence",
    )
    assert 2 in reversed_ok[0]  # λ = 0.7 "certified" by the reversed walk


def test_p_value_counts_the_errors_exactly() -> None:
    # 2 errors in 105 accepted: the tail at 2 errors, not 3 (float rounding of 1 − 103/105).
    scores = np.r_[np.full(105, 0.99), np.full(50, 0.1)]
    correct = np.r_[np.zeros(2, int), np.ones(103, int), np.ones(50, int)]
    p, passed = fixed_sequence_test(
        scores, correct, np.array([0.9]), target_precision=TARGET, confidence=CONF
    )
    assert p[0] == pytest.approx(binom.cdf(2, 105, 1 - TARGET), rel=1e-9)
    assert passed == 1  # 0.099 ≤ δ = 0.10
    risk = exact_risk(np.arange(0, 200), np.full(200, 997))
    assert np.all(np.ceil(997 * risk) == np.arange(0, 200))
