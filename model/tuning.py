"""Tune a few LightGBM hyperparameters for what the product optimises: certified coverage.

`tune_lightgbm` runs scikit-learn's `GridSearchCV` over a small candidate list (the defaults
first, then `budget - 1` draws from `SPACE`) on the records it is given, scored by
`CertifiedCoverage` (model.scoring), with folds in time order where the domain has time (each
fold scores records later than those it was fitted on, as certification does) and stratified
shuffled folds otherwise. The candidate is the same fit training makes: the feature pipeline,
LightGBM on native categoricals, early stopping on the later 15% of the fold's rows.

Training calls it on the slices before the certification slice only (fit, valid, calib): the
certificate's records are never seen by the search, so the certificate carries no selection
bias, and the test slice stays a measurement. Ties (e.g. nothing certifies on small folds) keep
the defaults, which are always the first candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, ParameterSampler, StratifiedKFold, TimeSeriesSplit
from sklearn.pipeline import make_pipeline

from autoresolve.model.domain import Domain
from autoresolve.model.estimators import LightGBMModel
from autoresolve.model.features import FeaturePipeline
from autoresolve.model.scoring import CertifiedCoverage
from autoresolve.model.splits import time_positions

SPACE: dict[str, list[Any]] = {
    "learning_rate": [0.05, 0.1, 0.15, 0.25],
    "num_leaves": [15, 31, 63],
    "min_data_in_leaf": [10, 20, 40, 80],
}
STEP = "lightgbmmodel__"
VALIDATION_FRACTION = 0.15


@dataclass
class TuneResult:
    best_params: dict[str, Any]
    best_score: float
    default_score: float
    table: pd.DataFrame  # one row per candidate: its parameters and mean/std certified coverage

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params,
            "best_score": self.best_score,
            "default_score": self.default_score,
            "candidates": self.table.to_dict("records"),
        }


def candidates(budget: int, seed: int = 0) -> list[dict[str, Any]]:
    """The defaults, then up to `budget - 1` distinct draws from SPACE."""
    if budget < 1:
        raise ValueError(f"the tuning budget must be ≥ 1 candidate; got {budget}.")
    defaults = LightGBMModel().get_params()
    out = [{k: defaults[k] for k in SPACE}]
    for params in ParameterSampler(SPACE, n_iter=10 * budget, random_state=seed):
        if len(out) >= budget:
            break
        if params not in out:
            out.append(dict(params))
    return out


def folds(domain: Domain, y: np.ndarray, n_splits: int, seed: int) -> Any:
    """Time-ordered folds when the domain has time (rows must be in time order), else
    stratified shuffled ones."""
    if domain.time:
        return TimeSeriesSplit(n_splits)
    counts = pd.Series(y).value_counts()
    k = int(min(n_splits, max(counts.min(), 2)))
    return StratifiedKFold(k, shuffle=True, random_state=seed)


def tune_lightgbm(
    domain: Domain,
    df: pd.DataFrame,
    *,
    budget: int,
    rules: Any = None,
    seed: int = 0,
    num_threads: int = 1,
    feature_options: dict[str, Any] | None = None,
    n_splits: int = 3,
    n_jobs: int = 1,
) -> TuneResult:
    """Search `budget` candidates on labelled `df` (see the module doc); nothing is refitted."""
    df = df.iloc[time_positions(domain, df)].reset_index(drop=True)
    y = df[domain.label].astype(str).to_numpy(dtype=object)
    features = FeaturePipeline(domain, **(feature_options or {})).set_output(transform="pandas")
    model = LightGBMModel(
        seed=seed, num_threads=num_threads, validation_fraction=VALIDATION_FRACTION
    )
    grid = [{STEP + k: [v] for k, v in c.items()} for c in candidates(budget, seed)]
    search = GridSearchCV(
        make_pipeline(features, model),
        grid,
        scoring=CertifiedCoverage(domain, rules),
        cv=folds(domain, y, n_splits, seed),
        refit=False,
        n_jobs=n_jobs,
        error_score="raise",
    ).fit(df, y)
    res = search.cv_results_
    table = pd.DataFrame(
        {k: [p[STEP + k] for p in res["params"]] for k in SPACE}
        | {
            "mean_certified_coverage": res["mean_test_score"],
            "std_certified_coverage": res["std_test_score"],
            "rank": res["rank_test_score"],
        }
    )
    best = {k.removeprefix(STEP): v for k, v in search.best_params_.items()}
    return TuneResult(
        best_params=best,
        best_score=float(search.best_score_),
        default_score=float(res["mean_test_score"][0]),
        table=table,
    )
