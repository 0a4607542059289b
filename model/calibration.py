"""Temperature scaling: one number that makes the model's confidence mean what it says.

Fitted on a calibration slice the model never trained on (and that certification never sees), it
keeps the ranking and the argmax of the raw probabilities, and costs a log, a divide and a softmax
for one row — the same numpy code for one row and for a million.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator

_EPS = 1e-12


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, _EPS, 1.0))


class TemperatureScaler(BaseEstimator):
    """p_cal = softmax(log p / T), with T chosen to minimise log loss on held-out rows.

    The same temperature as scikit-learn's `CalibratedClassifierCV(method="temperature")` on the
    same probabilities (tested); `apply` is kept because it is the one-record path's cost
    (benchmarks/bench_sklearn.py measures both).
    """

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)):
        self.bounds = bounds

    def fit(self, proba: np.ndarray, y: np.ndarray) -> TemperatureScaler:
        proba = np.asarray(proba, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if len(y) == 0:
            self.temperature_ = 1.0
            return self
        logp = _log(proba)
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
        self.temperature_ = float(np.exp(res.x))
        self.nll_before_ = nll(0.0)
        self.nll_after_ = float(res.fun)
        return self

    def apply(self, proba: np.ndarray) -> np.ndarray:
        # ufuncs called directly: the same values as clip/max/sum (which wrap them) at a third of
        # the overhead, which is most of the cost for the one-row path
        z = np.log(np.minimum(np.maximum(np.asarray(proba, dtype=np.float64), _EPS), 1.0))
        z /= self.temperature_
        z -= np.maximum.reduce(z, axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= np.add.reduce(z, axis=1, keepdims=True)
        return z

    def describe(self) -> dict:
        return {"method": "temperature scaling", "temperature": self.temperature_}
