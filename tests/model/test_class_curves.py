"""Per-class thresholds certified along one level of per-class precision curves.

Synthetic scores (no model): classes whose confidence means different things, which is what one
global cut wastes, and the checks that keep the per-class certificate honest: the thresholds
accept exactly what the certified level accepts, certification labels never reach the curves,
and a level that is not really at the target rarely certifies.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autoresolve.model.certify import (
    CLASS_CURVES,
    GLOBAL,
    certify_class_curves,
    certify_scores,
    choose_mode,
)
from autoresolve.model.class_curves import cross_fitted_estimates, fit_class_curves

TARGET, CONF = 0.95, 0.90
CLASSES = ("sure", "shaky", "mixed")


def _sample(rng: np.random.Generator, n: int, sure_precision: float = 0.99):
    """`sure` is right 99% of the time at modest scores; `shaky` is over-confident (right ~75%
    even near 1.0); `mixed` follows its score. No global cut reaches 95%: the top scores are
    mostly `shaky`'s."""
    pred = rng.choice(3, n, p=[0.3, 0.4, 0.3])
    score = np.select(
        [pred == 0, pred == 1],
        [rng.uniform(0.5, 0.8, n), rng.uniform(0.8, 1.0, n)],
        rng.uniform(0.4, 1.0, n),
    )
    p_right = np.select([pred == 0, pred == 1], [sure_precision, 0.75], score - 0.1)
    right = rng.random(n) < p_right
    truth = np.where(right, pred, (pred + 1) % 3)
    return score, pred, truth


def _certify(seed: int, mode: str, n_learn: int = 800, n_cert: int = 1500, **kw):
    rng = np.random.default_rng(seed)
    learn = _sample(rng, n_learn, **kw)
    cert, _grid = certify_scores(
        mode,
        *_sample(rng, n_cert, **kw),
        CLASSES,
        target_precision=TARGET,
        confidence=CONF,
        learn=learn,
        seed=seed,
    )
    return cert


def test_classes_that_mean_different_things_certify_per_class_not_globally() -> None:
    glob = _certify(0, GLOBAL)
    per = _certify(0, CLASS_CURVES)
    assert glob["threshold"] is None, glob["reason"]
    assert per["level"] is not None, per["reason"]
    assert per["per_class"]["sure"]["threshold"] is not None
    assert per["per_class"]["shaky"]["threshold"] is None
    assert "peaks at an estimated precision" in per["per_class"]["shaky"]["why_not"]
    assert per["coverage"] >= 0.25
    assert per["observed_precision"] >= TARGET
    assert per["error_upper_bound"] <= 1 - TARGET


def test_auto_prefers_class_thresholds_only_where_the_calibration_slice_shows_more() -> None:
    rng = np.random.default_rng(3)
    mode, cov = choose_mode(_sample(rng, 800), 3, target_precision=TARGET, confidence=CONF)
    assert mode == CLASS_CURVES and cov[CLASS_CURVES] > cov[GLOBAL]
    # one well-calibrated score for every class: no class means anything special
    n = 800
    score = rng.uniform(0.5, 1.0, n)
    pred = rng.choice(3, n)
    truth = np.where(rng.random(n) < score, pred, (pred + 1) % 3)
    mode, cov = choose_mode((score, pred, truth), 3, target_precision=TARGET, confidence=CONF)
    assert mode == GLOBAL, cov


def test_a_level_below_the_target_rarely_certifies() -> None:
    # `sure` at 0.93 is the best any class does: a certificate is false, allowed ≤ 10% (LTT).
    false = sum(
        _certify(s, CLASS_CURVES, sure_precision=0.93)["level"] is not None for s in range(30)
    )
    assert false <= 6


def test_certification_labels_never_reach_the_curves() -> None:
    rng = np.random.default_rng(5)
    learn = _sample(rng, 800)
    score, pred, truth = _sample(rng, 1500)
    flipped = np.where(truth == pred, (pred + 1) % 3, pred)  # every label changed
    a = certify_class_curves(
        score, pred, truth, CLASSES, target_precision=TARGET, confidence=CONF, learn=learn
    )
    b = certify_class_curves(
        score, pred, flipped, CLASSES, target_precision=TARGET, confidence=CONF, learn=learn
    )
    assert a["test_order"] == b["test_order"]  # the order and grid come from `learn` only
    assert b["level"] is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(30, 400), st.floats(0.0, 1.0))
def test_thresholds_accept_exactly_what_the_level_accepts(seed: int, n: int, level: float) -> None:
    rng = np.random.default_rng(seed)
    top = np.round(rng.uniform(0.2, 1.0, n), 3)  # ties on purpose
    pred = rng.integers(0, 4, n)
    ok = rng.random(n) < top
    curves = fit_class_curves(top, pred, ok, 5)  # class 4: never predicted, global curve
    other = np.round(rng.uniform(0.0, 1.0, 500), 3)
    other_pred = rng.integers(0, 5, 500)
    lam = curves.thresholds(level)
    est = curves.estimate(other, other_pred)
    assert np.array_equal(est >= level, other >= lam[other_pred])
    for ys in curves.ys:
        assert np.all(np.diff(ys) >= 0)


def test_cross_fitted_estimates_never_see_their_own_label() -> None:
    rng = np.random.default_rng(7)
    top, pred, truth = _sample(rng, 600)
    ok = pred == truth
    a = cross_fitted_estimates(top, pred, ok, 3, seed=1)
    i = int(np.flatnonzero(ok)[0])
    ok2 = ok.copy()
    ok2[i] = False
    b = cross_fitted_estimates(top, pred, ok2, 3, seed=1)
    assert a[i] == b[i]
