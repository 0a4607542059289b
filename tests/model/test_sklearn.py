"""The model layer as scikit-learn citizens: estimator checks, pipelines, search, the scorer.

`parametrize_with_checks` runs every scikit-learn estimator check on both model families.
None is expected to fail (`EXPECTED_FAILED` is empty, and stays the place to list one with its
reason). Two things do not go through the generic checks, and why:

- `FeaturePipeline`: its input is a table of a domain's records addressed by field name, and its
  output width is fixed by the domain, while the checks feed arrays of arbitrary widths. Its
  scikit-learn behaviour is tested directly below (clone, params, set_output, pipelines, search).
- `TemperatureScaler`: a calibrator of probabilities (`fit(proba, y)`, `apply`), not a
  classifier or transformer; it is a BaseEstimator for `clone`/`get_params`, and its temperature
  is checked against scikit-learn's own temperature scaling below.

LightGBM runs 40 boosting rounds in the checks (its default is 400 with early stopping when a
validation slice is given): the checks' data sets are tiny and the suite stays fast.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from autoresolve.model.calibration import TemperatureScaler
from autoresolve.model.certify import certify_time_ordered
from autoresolve.model.domain import load_domain
from autoresolve.model.estimators import LightGBMModel, LinearModel
from autoresolve.model.features import FeaturePipeline
from autoresolve.model.generators.crm import generate
from autoresolve.model.policy import NoRules, default_rules
from autoresolve.model.records import coerce_frame
from autoresolve.model.scoring import CertifiedCoverage
from autoresolve.model.splits import time_positions
from tests.support import CRM_DIR

FIXTURES = Path(__file__).with_name("fixtures")
EXPECTED_FAILED: dict[str, dict[str, str]] = {"LightGBMModel": {}, "LinearModel": {}}


@parametrize_with_checks(
    [LightGBMModel(num_boost_round=40), LinearModel()],
    expected_failed_checks=lambda est: EXPECTED_FAILED[type(est).__name__],
)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def crm() -> tuple:
    domain = load_domain(CRM_DIR)
    df = coerce_frame(domain, generate(n=6000, seed=5))  # fewer: the demo certifies nothing
    df = df.iloc[time_positions(domain, df)].reset_index(drop=True)
    return domain, df, df[domain.label].astype(str).to_numpy()


def test_feature_pipeline_params_and_clone(crm) -> None:
    domain = crm[0]
    fp = FeaturePipeline(domain, max_tokens=7)
    assert fp.get_params()["max_tokens"] == 7 and fp.get_params()["domain"] is domain
    twin = clone(fp.set_params(min_frequency=2))
    assert twin.get_params()["min_frequency"] == 2 and not hasattr(twin, "slots_")
    with pytest.raises(NotFittedError):
        check_is_fitted(FeaturePipeline(domain))
    with pytest.raises(NotFittedError, match="call fit"):
        FeaturePipeline(domain).get_feature_names_out()


def test_feature_pipeline_in_front_of_another_classifier(crm) -> None:
    domain, df, y = crm
    model = make_pipeline(FeaturePipeline(domain), HistGradientBoostingClassifier(max_iter=20))
    model.fit(df.iloc[:2000], y[:2000])
    proba = model.predict_proba(df.iloc[2000:2400])
    assert proba.shape == (400, len(model.classes_))
    assert (model.predict(df.iloc[2000:2400]) == y[2000:2400]).mean() > 0.5


def test_pandas_output_has_names_and_category_dtype(crm) -> None:
    domain, df, y = crm
    fp = FeaturePipeline(domain).fit(df, y)
    X = fp.transform(df.iloc[:50])
    out = clone(fp).set_output(transform="pandas").fit(df, y).transform(df.iloc[:50])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(fp.get_feature_names_out())
    cats = [c for c, t in out.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    assert cats == [fp.feature_names_out_[j] for j in fp.categorical_columns_]
    codes = out[cats[0]].cat.codes.to_numpy(dtype=float)
    np.testing.assert_array_equal(
        np.where(codes < 0, np.nan, codes), X[:, fp.categorical_columns_[0]]
    )
    rest = [c for c in out.columns if c not in cats]
    np.testing.assert_array_equal(
        out[rest].to_numpy(), X[:, [list(out.columns).index(c) for c in rest]]
    )


def test_our_estimators_read_categoricals_from_the_pandas_output(crm) -> None:
    domain, df, y = crm
    fp = FeaturePipeline(domain).set_output(transform="pandas").fit(df, y)
    est = LightGBMModel(num_boost_round=20).fit(fp.transform(df), y)
    assert est.categorical_ == fp.categorical_columns_
    lin = LinearModel().fit(fp.transform(df), y)
    assert len(lin.cat_cols_) == len(fp.categorical_columns_)
    # the same model on the plain matrix with the layout given, as training fits it
    plain = LightGBMModel(num_boost_round=20).fit(
        fp._matrix(df),
        np.unique(y, return_inverse=True)[1],
        n_classes=len(est.classes_),
        categorical=fp.categorical_columns_,
    )
    np.testing.assert_allclose(
        est.predict_proba(fp.transform(df.iloc[:100])), plain.predict_proba(fp._matrix(df[:100]))
    )


def test_cross_val_predict_and_grid_search_with_the_scorer(crm) -> None:
    domain, df, y = crm
    model = make_pipeline(
        FeaturePipeline(domain).set_output(transform="pandas"),
        LightGBMModel(num_boost_round=60, validation_fraction=0.15),
    )
    proba = cross_val_predict(model, df[:2400], y[:2400], cv=3, method="predict_proba")
    assert proba.shape == (2400, len(np.unique(y[:2400])))
    later = [(np.arange(4000), np.arange(4000, len(df)))]  # fit on the past, score the future
    search = GridSearchCV(
        make_pipeline(FeaturePipeline(domain), LightGBMModel(num_boost_round=60)),
        {"lightgbmmodel__learning_rate": [1e-4, 0.15]},  # 1e-4: stays near the class prior
        scoring=CertifiedCoverage(domain),
        cv=later,
    ).fit(df, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] == 0.0 < scores[1] == search.best_score_
    assert search.best_params_ == {"lightgbmmodel__learning_rate": 0.15}


def test_the_scorer_is_the_certification_step_on_rule_free_records(crm) -> None:
    domain, df, y = crm
    model = make_pipeline(FeaturePipeline(domain), LightGBMModel(num_boost_round=60))
    model.fit(df.iloc[:4000], y[:4000])
    fold, fold_y = df.iloc[4000:], y[4000:]
    scorer = CertifiedCoverage(domain)
    got = scorer(model, fold, fold_y)
    free = default_rules(domain).match_frame(fold) < 0
    classes = tuple(model.classes_)
    truth = np.array([classes.index(v) for v in fold_y[free]])
    cert, _ = certify_time_ordered(
        model.predict_proba(fold[free]),
        truth,
        classes,
        target_precision=domain.policy.target_precision,
        confidence=domain.policy.confidence,
    )
    assert got == cert["coverage"] > 0.0
    assert scorer.last_certificate["threshold"] == cert["threshold"]
    # rules matter: scored on every record, the share differs
    assert CertifiedCoverage(domain, NoRules())(model, fold, fold_y) != got


def test_the_scorer_gives_nothing_to_a_model_that_guesses(crm) -> None:
    domain, df, y = crm
    model = make_pipeline(FeaturePipeline(domain), LightGBMModel(num_boost_round=60))
    rng = np.random.default_rng(0)
    model.fit(df.iloc[:4000], rng.permutation(y[:4000]))
    assert CertifiedCoverage(domain)(model, df.iloc[4000:], y[4000:]) == 0.0


@pytest.mark.skipif(
    tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8),
    reason="scikit-learn's temperature scaling arrived in 1.8",
)
def test_temperature_matches_scikit_learns_temperature_scaling(crm) -> None:
    domain, df, y = crm
    fp = FeaturePipeline(domain).fit(df.iloc[:1200], y[:1200])
    est = LightGBMModel(num_boost_round=80).fit(fp.transform(df.iloc[:1200]), y[:1200])
    X_cal, y_cal = fp.transform(df.iloc[1200:]), y[1200:]
    theirs = CalibratedClassifierCV(FrozenEstimator(est), method="temperature").fit(X_cal, y_cal)
    beta = theirs.calibrated_classifiers_[0].calibrators[0].beta_
    ours = TemperatureScaler().fit(est.predict_proba(X_cal), np.searchsorted(est.classes_, y_cal))
    assert ours.temperature_ != 1.0
    assert ours.temperature_ == pytest.approx(1.0 / beta, rel=2e-3)
    np.testing.assert_allclose(
        ours.apply(est.predict_proba(X_cal)), theirs.predict_proba(X_cal), atol=1e-4
    )


def test_estimators_pickled_before_they_were_scikit_learn_estimators_still_load() -> None:
    """The file was written by main's code before this change (fixtures/make_…py says how)."""
    old = joblib.load(FIXTURES / "estimators_before_issue17.joblib")
    frame = pd.DataFrame(old["records"])
    np.testing.assert_array_equal(old["pipeline"].transform(frame), old["features"])
    for name in ("lightgbm", "linear"):
        est = old[name]
        assert list(est.classes_) == list(range(est.n_classes_))
        np.testing.assert_allclose(est.predict_proba(old["features"]), old[f"{name}_proba"])
        np.testing.assert_allclose(est.predict_row(old["features"][0]), old[f"{name}_proba"][0])
        assert clone(est).get_params() == est.get_params()
    np.testing.assert_allclose(old["scaler"].apply(old["lightgbm_proba"]), old["calibrated"])


def test_train_tunes_on_the_slices_before_certification(crm, monkeypatch) -> None:
    """--tune-budget: the search sees fit, valid and calib records only, never the certificate's
    or the test's, and the LightGBM candidate is trained with the best parameters."""
    import autoresolve.model.tuning as tuning
    from autoresolve.model.splits import DEFAULT_FRACTIONS, time_splits
    from autoresolve.model.train import train_policy

    domain, df, _ = crm
    df = df.iloc[:3000].reset_index(drop=True)
    seen: list[set] = []
    real = tuning.tune_lightgbm

    def spy(domain, frame, **kw):
        seen.append(set(frame[domain.id]))
        return real(domain, frame, **kw)

    monkeypatch.setattr(tuning, "tune_lightgbm", spy)
    policy, report = train_policy(domain, df, tune_budget=2, families=("lightgbm",))
    splits = time_splits(domain, df, DEFAULT_FRACTIONS, seed=0, mode="recent_pool")
    held = set(df[domain.id].iloc[list(splits["cert"]) + list(splits["test"])])
    assert seen and seen[0] and not seen[0] & held
    assert len(report.tuning["candidates"]) == 2 and report.tuning["rows"] == len(seen[0])
    best = report.tuning["best_params"]
    assert {k: policy.estimator.get_params()[k] for k in best} == best
