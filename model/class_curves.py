"""Per predicted class, how often the model is right at each confidence: the order that
per-class thresholds are certified along (model.certify's `class_curves` mode).

One global cut on the top probability treats a 0.8 on a class the model never gets wrong like a
0.8 on a class it confuses with three others. A curve per predicted class, fitted on the
calibration slice, maps the top probability to the estimated chance of being right for records
predicted as that class; thresholding that estimate at one level t gives one threshold per class.

Why the curves look like this:
- **Monotone (isotonic) step functions.** A non-decreasing curve makes "estimate ≥ t" the same as
  "top probability ≥ λ_c(t)" for every class, so serving keeps a per-class threshold lookup on the
  score it already computes, and the records accepted at level t are exactly those the policy
  resolves with thresholds λ(t) (`ClassCurves.thresholds`; tested equal).
- **Shrunk towards the global curve.** Each class's fit gets `prior_weight` pseudo-records spread
  like all calibration records, valued by the global curve, so a class seen a handful of times
  follows the global curve and a class seen hundreds of times follows its own.
- **Pessimistic at the top.** Isotonic fits overfit their extremes: a few right records above
  every other score make a block estimated at 1.0, which is exactly where the test sequence
  starts. Each class's fit gets one pseudo-error at its highest score (like the (errors + 1) /
  (accepted + 1) of model.certify's projected order).
- **Below a class's lowest fitted score the estimate is 0**: nothing is known there, and a level
  above 0 never accepts it.

Pure numpy plus scikit-learn's isotonic regression; no labels of the certification slice ever
reach a curve (model.certify fits them on the calibration slice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import isotonic_regression

PRIOR_WEIGHT = 50.0  # pseudo-records of the global curve in each class's fit
PSEUDO_POINTS = 64  # where those pseudo-records sit: quantiles of all calibration scores
TOP_ERROR = 1.0  # weight of the pseudo-error at each class's highest score


def _step_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(breakpoints, values) of the weighted isotonic fit of y on x, one value per distinct x."""
    u, inv = np.unique(x, return_inverse=True)
    ws = np.bincount(inv, weights=w, minlength=len(u))
    ys = np.bincount(inv, weights=w * y, minlength=len(u)) / np.maximum(ws, 1e-300)
    fitted = isotonic_regression(ys, sample_weight=ws, increasing=True)
    return u, np.maximum.accumulate(np.asarray(fitted, dtype=np.float64))


def _step_eval(xs: np.ndarray, ys: np.ndarray, s: np.ndarray) -> np.ndarray:
    i = np.searchsorted(xs, s, side="right") - 1
    return np.where(i >= 0, ys[np.clip(i, 0, len(ys) - 1)], 0.0)


@dataclass(frozen=True)
class ClassCurves:
    """One non-decreasing step function per model class: top probability → estimated precision."""

    xs: tuple[np.ndarray, ...]
    ys: tuple[np.ndarray, ...]
    counts: tuple[int, ...]  # calibration records predicted as each class

    def estimate(self, top: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Each record's estimated chance of being right (its predicted class's curve)."""
        top = np.asarray(top, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.int64)
        out = np.zeros(len(top))
        for c in np.unique(pred):
            sel = pred == c
            out[sel] = _step_eval(self.xs[c], self.ys[c], top[sel])
        return out

    def thresholds(self, level: float) -> np.ndarray:
        """λ_c(level) per class: the smallest top probability whose estimate is ≥ level; +inf
        where the curve never gets there. `estimate ≥ level` ⇔ `top ≥ λ_{pred}(level)`."""
        out = np.full(len(self.xs), np.inf)
        for c, (xs, ys) in enumerate(zip(self.xs, self.ys, strict=True)):
            if level <= 0.0:
                out[c] = 0.0  # every record's estimate is ≥ 0, whatever its score
                continue
            j = int(np.searchsorted(ys, level, side="left"))
            if j < len(ys):
                out[c] = float(xs[j])
        return out

    def best(self) -> np.ndarray:
        """The highest estimate each class's curve reaches."""
        return np.array([float(ys[-1]) if len(ys) else 0.0 for ys in self.ys])


def fit_class_curves(
    top: np.ndarray,
    pred: np.ndarray,
    correct: np.ndarray,
    n_classes: int,
    *,
    prior_weight: float = PRIOR_WEIGHT,
    top_error: float = TOP_ERROR,
) -> ClassCurves:
    """The curves from a labelled sample (top probability, predicted class index, right or not)."""
    top = np.asarray(top, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.int64)
    ok = np.asarray(correct, dtype=np.float64)
    if len(top) == 0:
        empty = (np.zeros(0), np.zeros(0))
        return ClassCurves((empty[0],) * n_classes, (empty[1],) * n_classes, (0,) * n_classes)
    gx, gy = _step_fit(top, ok, np.ones(len(top)))
    q = np.unique(np.quantile(top, np.linspace(0.0, 1.0, PSEUDO_POINTS)))
    qy = _step_eval(gx, gy, q)
    qw = np.full(len(q), prior_weight / len(q))
    xs, ys, counts = [], [], []
    for c in range(n_classes):
        sel = pred == c
        # one pseudo-error at the class's highest score: a short run of right records at the
        # top (5 of 5) reads 5/6, not 1.0, where the test sequence starts
        top_c = top[sel].max(initial=q[-1])
        x = np.concatenate([q, top[sel], [top_c]])
        y = np.concatenate([qy, ok[sel], [0.0]])
        w = np.concatenate([qw, np.ones(int(sel.sum())), [top_error]])
        cx, cy = _step_fit(x, y, w)
        xs.append(cx)
        ys.append(cy)
        counts.append(int(sel.sum()))
    return ClassCurves(tuple(xs), tuple(ys), tuple(counts))


def cross_fitted_estimates(
    top: np.ndarray, pred: np.ndarray, correct: np.ndarray, n_classes: int, *, seed: int = 0
) -> np.ndarray:
    """Each record's estimate from curves fitted on the other half of the sample (2 folds).

    In-sample estimates flatter a class seen a few times (20 of 20 right reads as 1.0); these
    are what choosing between a global cut and per-class thresholds, and ordering the test, see.
    """
    top = np.asarray(top, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.int64)
    correct = np.asarray(correct)
    fold = np.random.default_rng(seed).permutation(len(top)) % 2 == 0
    out = np.zeros(len(top))
    for side in (True, False):
        fit_on, apply_to = fold == side, fold != side
        if not fit_on.any() or not apply_to.any():
            continue
        curves = fit_class_curves(top[fit_on], pred[fit_on], correct[fit_on], n_classes)
        out[apply_to] = curves.estimate(top[apply_to], pred[apply_to])
    return out
