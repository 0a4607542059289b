"""The two model families: LightGBM on native categoricals, and a linear baseline.

Both take the FeaturePipeline's matrix and return class probabilities (n × K) through numpy
only, so one record costs a booster call (LightGBM) or a few lookups and a dot product (linear).

Both are scikit-learn classifiers (`classes_`, `predict`, `predict_proba`, `get_params`, `clone`,
scikit-learn's estimator checks in tests/model/test_sklearn.py), so `cross_val_predict`
and `GridSearchCV` work on them. Training passes `n_classes` (y already holds class indices, and a
class absent from a slice keeps its column) and the pipeline's categorical layout; a plain
`fit(X, y)` takes the classes from y and the categorical columns from a DataFrame's category
dtype (`FeaturePipeline.set_output(transform="pandas")`), none from an array.

One record through `Booster.predict` spends most of its ~50–150 µs in Python-side checks and
ctypes conversions, not in the trees; `predict_row` uses LightGBM's own single-row fast path
(`LGBM_BoosterPredictForMatSingleRowFast`, prepared once per thread with fixed buffers), which
evaluates the same trees with the same arithmetic — tests hold it to the batch path.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from lightgbm.basic import _LIB, _safe_call
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

_PREDICT_NORMAL = 0
_DTYPE_FLOAT64 = 1


class _FastRow:
    """A per-thread LightGBM FastConfig with its input/output buffers (not picklable, rebuilt)."""

    def __init__(self, booster: lgb.Booster, n_features: int, n_classes: int, n_iter: int):
        self.handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(n_iter),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self.handle),
            )
        )
        self.inp = np.zeros(n_features, dtype=np.float64)
        self.out = np.zeros(n_classes, dtype=np.float64)
        self.inp_ptr = self.inp.ctypes.data_as(ctypes.c_void_p)
        self.out_ptr = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self.out_len = ctypes.c_int64(0)
        self.out_len_ref = ctypes.byref(self.out_len)
        self.fn = _LIB.LGBM_BoosterPredictForMatSingleRowFast

    def __call__(self, row: Sequence[float]) -> np.ndarray:
        self.inp[:] = row
        if self.fn(self.handle, self.inp_ptr, self.out_len_ref, self.out_ptr) != 0:
            _safe_call(-1)  # raises LightGBMError with LightGBM's own message
        return self.out.copy()

    def __del__(self) -> None:
        if getattr(self, "handle", None) is not None and self.handle.value:
            _LIB.LGBM_FastConfigFree(self.handle)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _categorical_layout(X: Any) -> tuple[list[int], dict[int, int]]:
    """Category-dtype columns of a DataFrame and their sizes (none for an array)."""
    if not isinstance(X, pd.DataFrame):
        return [], {}
    cats = [j for j, t in enumerate(X.dtypes) if isinstance(t, pd.CategoricalDtype)]
    return cats, {j: len(X.dtypes.iloc[j].categories) for j in cats}


def _float_frame(X: Any) -> Any:
    """A DataFrame's category columns as their codes (NaN when missing); anything else as is."""
    if not isinstance(X, pd.DataFrame):
        return X
    cats = [c for c, t in X.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    if not cats:
        return X
    X = X.copy()
    for c in cats:
        codes = X[c].cat.codes.to_numpy(dtype=np.float64)
        X[c] = np.where(codes < 0, np.nan, codes)
    return X


class _Classifier(ClassifierMixin, BaseEstimator):
    """What both families share as scikit-learn classifiers: targets, validation, tags, and
    loading policies pickled before they were estimators (`__setstate__`)."""

    def _targets(self, X: Any, y: Any, n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(X as float64, y as class indices); sets classes_ and the input checks' state."""
        X, y = validate_data(
            self, _float_frame(X), y, ensure_all_finite="allow-nan", dtype=np.float64
        )
        check_classification_targets(y)
        if n_classes is None:
            self.classes_, y = np.unique(y, return_inverse=True)
        else:
            self.classes_ = np.arange(n_classes)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least two classes; y has only one class "
                f"({self.classes_[0]!r}). Give it records of another resolution."
            )
        self.n_classes_ = len(self.classes_)
        return X, np.asarray(y, dtype=np.int64)

    def _checked(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(
            self, _float_frame(X), reset=False, ensure_all_finite="allow-nan", dtype=np.float64
        )

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __setstate__(self, state: dict[str, Any]) -> None:
        legacy = {k: v for k, v in self._LEGACY.items() if k not in state}
        if "classes_" not in state and "n_classes_" in state:  # pickled before issue 17
            legacy["classes_"] = np.arange(state["n_classes_"])
            legacy["n_features_in_"] = self._legacy_n_features(state)
        super().__setstate__({**state, **legacy})

    _LEGACY: ClassVar[dict[str, Any]] = {}  # parameters added since: their defaults

    @staticmethod
    def _legacy_n_features(state: dict[str, Any]) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


class LightGBMModel(_Classifier):
    """Multiclass gradient boosting with early stopping on a later slice of the training period.

    Training is reproducible across machines: `deterministic` with row-wise histograms and a
    fixed `num_threads` (1 unless the caller asks otherwise, never the machine's core count) —
    tested with 1 and 2 OpenMP threads in tests/model/test_reproducible.py.
    """

    name = "lightgbm"

    def __init__(
        self,
        *,
        num_boost_round: int = 400,
        early_stopping_rounds: int = 30,
        learning_rate: float = 0.15,
        num_leaves: int = 31,
        max_depth: int = 8,
        min_data_in_leaf: int = 40,
        validation_fraction: float | None = None,
        seed: int = 0,
        num_threads: int = 1,
    ):
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_data_in_leaf = min_data_in_leaf
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.num_threads = num_threads

    _LEGACY: ClassVar[dict[str, Any]] = {"validation_fraction": None}

    @staticmethod
    def _legacy_n_features(state: dict[str, Any]) -> int:
        return int(state["booster_"].num_feature())

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        n_classes: int | None = None,
        categorical: Sequence[int] | None = None,
        category_sizes: dict[int, int] | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> LightGBMModel:
        """Fit; early stopping on (X_valid, y_valid), else on the last `validation_fraction`
        of the rows (a later slice when rows are in time order), else none.

        `n_classes`: y already holds class indices 0..n_classes-1 (training's slices);
        `categorical`: the native categorical columns (default: X's category-dtype columns);
        `category_sizes` is accepted for the same call as `LinearModel.fit` (trees need none).
        """
        if categorical is None:
            categorical = _categorical_layout(X)[0]
        X, y = self._targets(X, y, n_classes)
        self.categorical_ = tuple(int(c) for c in categorical)
        if X_valid is None and self.validation_fraction:
            cut = len(y) - max(round(len(y) * self.validation_fraction), 1)
            X, X_valid, y, y_valid = X[:cut], X[cut:], y[:cut], y[cut:]
        params = {
            "objective": "multiclass",
            "num_class": self.n_classes_,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "max_cat_to_onehot": 8,
            "cat_smooth": 10.0,
            "min_data_per_group": 20,
            "max_bin": 127,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }
        train = lgb.Dataset(X, label=y, categorical_feature=list(categorical), free_raw_data=True)
        valid_sets, callbacks = [], []
        if X_valid is not None and y_valid is not None and len(y_valid) > 0:
            valid_sets = [lgb.Dataset(X_valid, label=y_valid, reference=train)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster_ = lgb.train(
            params, train, self.num_boost_round, valid_sets=valid_sets, callbacks=callbacks
        )
        best = self.booster_.best_iteration
        self.n_iterations_ = int(best) if best and best > 0 else self.booster_.current_iteration()
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_local", None)
        return state

    def predict_row(self, row: Sequence[float]) -> np.ndarray:
        """Probabilities (K,) for one feature row, via LightGBM's single-row fast path."""
        try:
            return self._local.fast(row)
        except AttributeError:  # first call on this object or this thread
            local = self.__dict__.setdefault("_local", threading.local())
            if getattr(local, "fast", None) is not None:
                raise
            local.fast = _FastRow(self.booster_, len(row), self.n_classes_, self.n_iterations_)
            return local.fast(row)

    def predict_proba(self, X: Any, *, num_threads: int = 1) -> np.ndarray:
        X = self._checked(X)
        p = self.booster_.predict(
            X, num_iteration=self.n_iterations_, num_threads=num_threads, validate_features=False
        )
        return np.asarray(p, dtype=np.float64).reshape(len(X), self.n_classes_)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-column contributions to each class's raw score, (n, K, columns): LightGBM's
        SHAP values (`pred_contrib`), the bias column dropped. For explanations only."""
        c = self.booster_.predict(
            X, num_iteration=self.n_iterations_, pred_contrib=True, validate_features=False
        )
        c = np.asarray(c, dtype=np.float64).reshape(len(X), self.n_classes_, X.shape[1] + 1)
        return c[:, :, :-1]

    def describe(self) -> dict:
        return {"family": self.name, "trees_per_class": self.n_iterations_}


class LinearModel(_Classifier):
    """Multinomial logistic regression on one-hot categoricals and standardised numbers.

    The encoding is a fixed layout over the pipeline's matrix (a categorical column's code picks a
    weight row; a number is median-imputed, standardised and clipped, with a missing flag), so
    prediction is an index gather plus a small dot product in numpy.
    """

    name = "linear"

    def __init__(
        self, *, C: float = 1.0, max_iter: int = 300, max_rows: int = 50_000, seed: int = 0
    ):
        self.C = C
        self.max_iter = max_iter
        self.max_rows = max_rows  # a baseline: the most recent rows suffice, and lbfgs is slow
        self.seed = seed

    @staticmethod
    def _legacy_n_features(state: dict[str, Any]) -> int:
        return len(state["cat_cols_"]) + len(state["num_cols_"])

    def _layout(self, X: np.ndarray, categorical: Sequence[int], sizes: dict[int, int]) -> None:
        cat = [int(c) for c in categorical]
        self.cat_cols_ = np.array(cat, dtype=np.int64)
        self.num_cols_ = np.array([j for j in range(X.shape[1]) if j not in set(cat)], np.int64)
        offsets, start = [], 0
        for c in cat:
            offsets.append(start)
            start += sizes[c] + 1  # codes 0..size-1 plus a missing slot
        self.cat_offsets_ = np.array(offsets, dtype=np.int64)
        self.cat_missing_ = np.array([sizes[c] for c in cat], dtype=np.int64)
        self.n_onehot_ = start
        num = X[:, self.num_cols_]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: median NaN
            med = np.nanmedian(num, axis=0) if num.size else np.zeros(0)
        med = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(np.isnan(num), med, num)
        std = filled.std(axis=0) if num.size else np.zeros(0)
        self.num_median_ = med
        self.num_mean_ = filled.mean(axis=0) if num.size else np.zeros(0)
        self.num_scale_ = np.where(std > 1e-12, std, 1.0)

    def _cat_index(self, X: np.ndarray) -> np.ndarray:
        codes = X[:, self.cat_cols_]
        codes = np.where(np.isnan(codes), self.cat_missing_, codes).astype(np.int64)
        return codes + self.cat_offsets_

    def _num_block(self, X: np.ndarray) -> np.ndarray:
        num = X[:, self.num_cols_]
        miss = np.isnan(num)
        z = (np.where(miss, self.num_median_, num) - self.num_mean_) / self.num_scale_
        return np.hstack([np.clip(z, -5.0, 5.0), miss.astype(np.float64)])

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        n_classes: int | None = None,
        categorical: Sequence[int] | None = None,
        category_sizes: dict[int, int] | None = None,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> LinearModel:
        """Fit; `n_classes` and `categorical` as `LightGBMModel.fit`, `category_sizes`: each
        categorical column's number of codes (default: from X's category dtype). X_valid and
        y_valid are accepted for the same call as `LightGBMModel.fit` (lbfgs needs no early
        stopping)."""
        if categorical is None:
            categorical, category_sizes = _categorical_layout(X)
        X, y = self._targets(X, y, n_classes)
        n_classes = self.n_classes_
        if len(X) > self.max_rows:
            X, y = X[-self.max_rows :], y[-self.max_rows :]
        self._layout(X, categorical, category_sizes or {})
        n = len(X)
        idx = self._cat_index(X)
        onehot = sparse.csr_matrix(
            (np.ones(idx.size), (np.repeat(np.arange(n), idx.shape[1]), idx.ravel())),
            shape=(n, self.n_onehot_),
        )
        design = sparse.hstack([onehot, sparse.csr_matrix(self._num_block(X))]).tocsr()
        present = np.unique(y)
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        # lbfgs's vector sums go through BLAS, which splits long ones across its threads (as
        # many as the machine or OMP_NUM_THREADS gives) and so rounds differently per core
        # count; one thread makes the weights the same everywhere (tests/model/
        # test_reproducible.py). Prediction is a row-by-row product: the same at any count.
        with threadpool_limits(limits=1, user_api="blas"):
            clf.fit(design, y)
        coef = np.zeros((n_classes, design.shape[1]))
        bias = np.full(n_classes, -30.0)  # classes absent from training get ~zero probability
        if len(present) == 2 and clf.coef_.shape[0] == 1:
            coef[present[1]] = clf.coef_[0]
            bias[present[1]] = clf.intercept_[0]
            bias[present[0]] = 0.0
        else:
            coef[present] = clf.coef_
            bias[present] = clf.intercept_
        self.w_cat_ = np.ascontiguousarray(coef[:, : self.n_onehot_].T)  # (n_onehot, K)
        self.w_num_ = np.ascontiguousarray(coef[:, self.n_onehot_ :].T)  # (2·n_num, K)
        self.bias_ = bias
        self.n_classes_ = n_classes
        self.converged_ = bool(np.all(clf.n_iter_ < self.max_iter))
        self.n_iter_ = int(np.max(clf.n_iter_))
        return self

    def predict_row(self, row: Sequence[float]) -> np.ndarray:
        return self._proba(np.asarray(row, dtype=np.float64).reshape(1, -1))[0]

    def predict_proba(self, X: Any, **_: object) -> np.ndarray:
        return self._proba(self._checked(X))

    def _proba(self, X: np.ndarray) -> np.ndarray:
        logits = self._num_block(X) @ self.w_num_ + self.bias_
        if len(self.cat_cols_):
            logits = logits + self.w_cat_[self._cat_index(X)].sum(axis=1)
        return softmax(logits)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-column contributions to each class's logit, (n, K, columns): coefficient × input
        (a categorical column's one-hot weight row; a number's standardised value and its
        missing flag, both credited to the number's column). For explanations only."""
        n, k = len(X), self.n_classes_
        out = np.zeros((n, k, X.shape[1]), dtype=np.float64)
        if len(self.cat_cols_):
            out[:, :, self.cat_cols_] = self.w_cat_[self._cat_index(X)].transpose(0, 2, 1)
        block = self._num_block(X)  # (n, 2·n_num): values, then missing flags
        m = len(self.num_cols_)
        both = block[:, :m, None] * self.w_num_[None, :m, :]
        both += block[:, m:, None] * self.w_num_[None, m:, :]
        out[:, :, self.num_cols_] = both.transpose(0, 2, 1)
        return out

    def describe(self) -> dict:
        return {
            "family": self.name,
            "C": self.C,
            "converged": self.converged_,
            "max_rows": self.max_rows,
        }
