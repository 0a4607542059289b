"""Train a policy: check the labels, split (model.splits), fit, calibrate, certify, choose.

`train_policy(domain, df)` returns the Policy and a TrainReport. Choices are made on slices before
the test slice only: LightGBM and the linear baseline are both fitted (fit slice, early stopping on
the valid slice) and calibrated (calib slice); the one whose calibrated confidence reaches the
target precision on more of the calib slice is chosen, and only it is certified, on the cert slice
(so the certificate carries no selection bias). The test slice — the most recent records — is only
measured.

A domain that lists no resolutions takes them from the training labels, and the policy carries
that domain. Bad training data is refused with what to do: labels outside the domain's resolutions,
fewer than two usable classes, too few rows. Classes with fewer than `policy.min_class_examples`
training examples are documented and dropped from the model's classes (the model never predicts
them; such records still count in calibration and test, as model errors when resolved).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.calibration import TemperatureScaler
from autoresolve.model.certify import (
    BONFERRONI,
    CLASS_CURVES,
    GLOBAL,
    SERVED_POPULATION,
    certify_scores,
    choose_mode,
    ranked_coverage,
)
from autoresolve.model.domain import Domain, DomainError
from autoresolve.model.estimators import LightGBMModel, LinearModel
from autoresolve.model.evaluation import evaluate_policy
from autoresolve.model.features import FeaturePipeline
from autoresolve.model.novelty import NoveltyDetector
from autoresolve.model.policy import Policy, RuleSetLike, default_rules
from autoresolve.model.records import coerce_frame
from autoresolve.model.rule_health import recent_labelled, rule_health
from autoresolve.model.splits import DEFAULT_FRACTIONS, time_range, time_splits
from autoresolve.rules.errors import suggest

Progress = Callable[[str, float], None]
MIN_ROWS = 100
PER_CLASS_MIN = 20  # predicted records a class needs in both samples to get its own λ


class TrainError(ValueError):
    """Training data that cannot give a trustworthy policy; the message says what to fix."""


@dataclass
class TrainReport:
    metrics: dict[str, Any]
    certificate: dict[str, Any]
    chosen: str
    why: str
    candidates: dict[str, dict[str, Any]]
    splits: dict[str, dict[str, Any]]
    dropped: dict[str, Any]
    novelty: dict[str, Any]
    evaluation: dict[str, Any] = field(default_factory=dict, repr=False)
    rule_health: dict[str, Any] = field(default_factory=dict)
    tuning: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, bytes]:
        """PNG bytes: reliability diagram, coverage–precision curve, confusion matrix."""
        from autoresolve.model.evaluation import figures

        return figures(self.evaluation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "certificate": self.certificate,
            "chosen": self.chosen,
            "why": self.why,
            "candidates": self.candidates,
            "splits": self.splits,
            "dropped": self.dropped,
            "novelty": self.novelty,
            "rule_health": self.rule_health,
            "tuning": self.tuning,
        }


def fingerprint(domain: Domain, df: pd.DataFrame) -> dict[str, Any]:
    cols = [c for c in [domain.id, domain.label, *domain.field_types] if c in df.columns]
    h = pd.util.hash_pandas_object(df[cols].astype(str), index=False).to_numpy()
    start, end = time_range(domain, df)
    return {
        "sha256": hashlib.sha256(h.tobytes()).hexdigest(),
        "rows": len(df),
        "columns": cols,
        "time_start": start,
        "time_end": end,
    }


def _check_labels(domain: Domain, df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    domain.check_table(df, require_label=True, where="the training data")
    labels = df[domain.label]
    missing = labels.isna() | (labels.astype(str).str.strip() == "")
    dropped: dict[str, Any] = {"unlabelled_rows": int(missing.sum())}
    df = df.loc[~missing]
    y = df[domain.label].astype(str)
    unknown = y[~y.isin(domain.resolutions)].value_counts()
    if len(unknown):
        shown = ", ".join(f"'{v}' ({c} rows)" for v, c in unknown.head(8).items())
        raise TrainError(
            f"label column '{domain.label}' has values that are not resolutions of domain "
            f"'{domain.name}': {shown}."
            + suggest(str(unknown.index[0]), domain.resolutions)
            + " Add them to `resolutions` in domain.yaml (or leave `resolutions` out to take "
            "them from the labels), or fix/drop those rows."
        )
    if len(df) < MIN_ROWS:
        raise TrainError(
            f"only {len(df)} labelled rows; at least {MIN_ROWS} are needed to train and certify."
        )
    return df, dropped


selection_coverage = ranked_coverage  # the calibration slice's ranking score (model.certify)


def _fit_candidate(
    est: Any,
    X: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    free: dict[str, np.ndarray],
    pipe: FeaturePipeline,
    n_classes: int,
    domain: Domain,
) -> dict[str, Any]:
    """Fit one family, calibrate it and score it for selection, all before the cert slice."""
    est.fit(
        X["fit"],
        y["fit"],
        n_classes=n_classes,
        categorical=pipe.categorical_columns_,
        category_sizes=pipe.category_sizes_,
        X_valid=X["valid"],
        y_valid=y["valid"],
    )
    cal_rows = free["calib"] if free["calib"].sum() >= 50 else np.ones_like(free["calib"])
    raw_cal = est.predict_proba(X["calib"])
    cal_y = y["calib"]
    known = cal_y >= 0
    scaler = TemperatureScaler().fit(raw_cal[cal_rows & known], cal_y[cal_rows & known])
    p_cal = scaler.apply(raw_cal[cal_rows])
    learn_top = p_cal.max(axis=1)
    learn_ok = (p_cal.argmax(axis=1) == cal_y[cal_rows]).astype(int)
    return {
        "estimator": est,
        "scaler": scaler,
        "learn": (learn_top, learn_ok),
        "learn_classes": (p_cal.argmax(axis=1), cal_y[cal_rows]),
        "selection_coverage": selection_coverage(
            learn_top, learn_ok, domain.policy.target_precision, domain.policy.confidence
        ),
        "calib_accuracy": float(learn_ok.mean()) if len(learn_ok) else float("nan"),
    }


def per_class_selection(
    top: np.ndarray, pred: np.ndarray, truth: np.ndarray, n_classes: int, domain: Domain
) -> float:
    """`selection_coverage` summed over predicted classes, each at its Bonferroni confidence."""
    eligible = [c for c in range(n_classes) if (pred == c).sum() >= PER_CLASS_MIN]
    if not eligible or len(top) == 0:
        return 0.0
    conf = 1.0 - (1.0 - domain.policy.confidence) / len(eligible)
    covered = 0.0
    for c in eligible:
        m = pred == c
        ok = (truth[m] == c).astype(int)
        covered += selection_coverage(top[m], ok, domain.policy.target_precision, conf) * m.sum()
    return covered / len(top)


def advising_family(
    results: dict[str, dict[str, Any]], chosen: str, certificate: dict[str, Any]
) -> str:
    """The family whose probabilities the policy carries.

    The certified one, unless it certified nothing: then the model resolves nothing whichever
    estimator it carries, and the deferred records' candidates should come from the family more
    accurate on the calibration slice (a real routing set: the linear fallback was chosen for a
    sliver of calib-slice coverage, certified nothing, and showed candidates right 17% of the
    time against LightGBM's 31%). The choice uses no certification label.
    """
    per = certificate.get("per_class") or {}
    if certificate.get("threshold") is not None or any(
        v.get("threshold") is not None for v in per.values()
    ):
        return chosen

    def accuracy(f: str) -> float:
        a = results[f]["calib_accuracy"]
        return a if np.isfinite(a) else -1.0

    return max(results, key=lambda f: (accuracy(f), f == chosen))


def _certify(
    cand: dict[str, Any],
    X: dict,
    y: dict,
    free: dict,
    domain: Domain,
    classes: tuple[str, ...],
    mode: str,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray]:
    est, scaler = cand["estimator"], cand["scaler"]
    p_cert = scaler.apply(est.predict_proba(X["cert"][free["cert"]]))
    top = p_cert.max(axis=1)
    pred = p_cert.argmax(axis=1)
    truth = y["cert"][free["cert"]]
    cert, grid = certify_scores(
        mode,
        top,
        pred,
        truth,
        classes,
        target_precision=domain.policy.target_precision,
        confidence=domain.policy.confidence,
        learn=(cand["learn"][0], *cand["learn_classes"]),
        seed=seed,
        min_records=PER_CLASS_MIN,
    )
    cert["accuracy"] = float((pred == truth).mean()) if len(truth) else None
    cert["population"] = SERVED_POPULATION
    return cert, grid


def train_policy(
    domain: Domain,
    df: pd.DataFrame,
    *,
    seed: int = 0,
    rules: RuleSetLike | None = None,
    progress: Progress | None = None,
    fractions: dict[str, float] | None = None,
    families: tuple[str, ...] = ("lightgbm", "linear"),
    num_threads: int = 1,
    per_class: bool | str = "auto",
    split_mode: str = "recent_pool",
    feature_options: dict[str, Any] | None = None,
    tune_budget: int = 0,
) -> tuple[Policy, TrainReport]:
    """Fit, calibrate, certify and evaluate a policy on labelled history `df`.

    `split_mode`: "recent_pool" (default), "forward" (the certificate's records after everything
    fitted) or "time" (every slice in time order); see model.splits for the measured choice.

    `per_class`: False — one certified λ for all classes; True — one λ per predicted class, all
    certified together on one level of per-class precision curves (model.certify's
    `certify_class_curves`); "auto" — whichever reaches the target on more of the calib slice;
    "bonferroni" — one λ per class, each certified alone. "auto" is the default: it never
    uses a certification label, and measured (docs/quality.md) it kept the global cut wherever
    per-class thresholds would not certify more.

    `feature_options`: keyword arguments of `FeaturePipeline` (e.g. the text vocabulary's size
    and ranking); the defaults otherwise.

    `tune_budget`: when > 0, LightGBM's learning rate, leaves and leaf size are first searched
    over that many candidates (the defaults first) by certified coverage, on the fit, valid and
    calib slices only (model.tuning), and the best is the LightGBM candidate trained below.
    """

    def step(msg: str, frac: float) -> None:
        if progress is not None:
            progress(msg, frac)

    step("checking data", 0.0)
    domain, df, dropped = _checked(domain, df)
    ruleset = rules if rules is not None else default_rules(domain)

    splits = time_splits(domain, df, fractions or DEFAULT_FRACTIONS, seed=seed, mode=split_mode)
    labels = df[domain.label].astype(str).to_numpy(dtype=object)
    classes = _model_classes(domain, labels[splits["fit"]], dropped)
    index = {c: i for i, c in enumerate(classes)}
    y_all = np.array([index.get(v, -1) for v in labels], dtype=np.int64)

    step("matching rules", 0.05)
    free_all = np.asarray(ruleset.match_frame(df), dtype=np.int64) < 0
    health = rule_health(ruleset, recent_labelled(domain, df), domain)

    step("fitting features", 0.1)
    pipe = FeaturePipeline(domain, **(feature_options or {}))
    X, y, free = _slices(pipe, df, splits, labels, y_all, free_all)

    step("fitting novelty detector", 0.15)
    novelty = _served_population(domain, pipe, X, free)

    tuning: dict[str, Any] = {}
    if tune_budget > 0 and "lightgbm" in families:
        step(f"tuning lightgbm ({tune_budget} candidates)", 0.17)
        tuning = _tune(
            domain, df, splits, y_all, ruleset, tune_budget, seed, num_threads, feature_options
        )
    params = tuning.get("best_params")
    how = (seed, num_threads, params, len(classes))
    results = _fit_families(domain, families, how, X, y, free, pipe, step)
    chosen, why, mode = _choose(results, domain, len(classes), per_class, seed)

    step("certifying", 0.7)
    certificate, grid = _certify(results[chosen], X, y, free, domain, classes, mode, seed)
    certificate["not_in_model"] = _not_in_model(domain, dropped)
    chosen, why = _advise(results, chosen, why, certificate, grid)
    best = results[chosen]

    cert = {**certificate, "selection": why}
    policy = Policy(
        domain=domain,
        rules=ruleset,
        pipeline=pipe,
        estimator=best["estimator"],
        calibrator=best["scaler"],
        certificate=cert,
        novelty=novelty,
        classes=classes,
        fingerprint=fingerprint(domain, df),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        candidate_grid=tuple(float(g) for g in grid),
    )

    step("evaluating on the test slice", 0.85)
    evaluation = evaluate_policy(policy, df.iloc[splits["test"]], X_test=X["test"])
    policy.metrics = {
        **evaluation["metrics"],
        "chosen_estimator": chosen,
        "certified_threshold": policy.threshold,
        "certified_coverage_cert_slice": certificate["coverage"],
    }
    report = TrainReport(
        metrics=policy.metrics,
        certificate=cert,
        chosen=chosen,
        why=why,
        candidates={f: _candidate_summary(r) for f, r in results.items()},
        splits=_split_summary(domain, df, splits),
        dropped=dropped,
        novelty=_novelty_summary(novelty, evaluation),
        evaluation=evaluation,
        rule_health=health.to_dict(),
        tuning=tuning,
    )
    step("done", 1.0)
    return policy, report


def _fit_families(domain, families, how, X, y, free, pipe, step) -> dict[str, dict[str, Any]]:
    """Each candidate family fitted and calibrated on the same slices (the choice is later);
    `how` = (seed, num_threads, tuned LightGBM parameters or None, number of classes)."""
    seed, num_threads, params, n_classes = how
    results: dict[str, dict[str, Any]] = {}
    for i, fam in enumerate(families):
        step(f"training {fam}", 0.2 + 0.5 * i / len(families))
        est = _estimator(fam, seed, num_threads, params)
        results[fam] = _fit_candidate(est, X, y, free, pipe, n_classes, domain)
    return results


def _checked(domain: Domain, df: pd.DataFrame) -> tuple[Domain, pd.DataFrame, dict[str, Any]]:
    """The training table checked and coerced, the domain's resolutions completed from the labels
    when domain.yaml lists none, and the rows whose label the model cannot learn dropped."""
    domain.check_table(df, require_label=True, where="the training data")
    df = coerce_frame(domain, df)
    domain = domain.with_label_resolutions(df[domain.label])
    df, dropped = _check_labels(domain, df)
    return domain, df.reset_index(drop=True), dropped


def _served_population(
    domain: Domain, pipe: FeaturePipeline, X: dict[str, Any], free: dict[str, np.ndarray]
) -> NoveltyDetector | None:
    """Calibration and certification see the population the model serves: no rule, not novel
    (model.certify's doc); `free` is narrowed in place. The detector uses no label and no
    calib/cert record."""
    if not domain.policy.novelty:
        return None
    novelty = NoveltyDetector().fit(pipe, X["fit"], X["valid"])
    for name in ("calib", "cert"):
        free[name] = free[name] & ~novelty.is_novel(X[name])
    return novelty


def _novelty_summary(novelty: NoveltyDetector | None, evaluation: dict[str, Any]) -> dict:
    return {
        **(novelty.describe() if novelty is not None else {"disabled": True}),
        **evaluation["novelty"],
    }


def _estimator(
    family: str, seed: int, num_threads: int, params: dict[str, Any] | None = None
) -> Any:
    if family == "lightgbm":
        return LightGBMModel(seed=seed, num_threads=num_threads, **(params or {}))
    return LinearModel(seed=seed)


def _tune(
    domain: Domain,
    df: pd.DataFrame,
    splits: Any,
    y_all: np.ndarray,
    ruleset: RuleSetLike,
    budget: int,
    seed: int,
    num_threads: int,
    feature_options: dict[str, Any] | None,
) -> dict[str, Any]:
    """`tune_lightgbm` on the rows before certification (fit, valid, calib) of learnable
    classes: the certification and test slices are never seen by the search."""
    from autoresolve.model.tuning import tune_lightgbm

    rows = np.concatenate([splits["fit"], splits["valid"], splits["calib"]])
    rows = np.sort(rows[y_all[rows] >= 0])
    result = tune_lightgbm(
        domain,
        df.iloc[rows],
        budget=budget,
        rules=ruleset,
        seed=seed,
        num_threads=num_threads,
        feature_options=feature_options,
    )
    return {**result.to_dict(), "rows": len(rows), "slices": ["fit", "valid", "calib"]}


def _model_classes(
    domain: Domain, fit_labels: np.ndarray, dropped: dict[str, Any]
) -> tuple[str, ...]:
    """The resolutions with enough examples in the fit slice to learn; the rest are recorded in
    `dropped`. Fewer than two such classes is refused."""
    fit_counts = pd.Series(fit_labels).value_counts()
    min_ex = domain.policy.min_class_examples
    classes = tuple(r for r in domain.resolutions if fit_counts.get(r, 0) >= min_ex)
    rare = {r: int(fit_counts.get(r, 0)) for r in domain.resolutions if r not in classes}
    dropped["classes_below_min_examples"] = {r: c for r, c in rare.items() if c > 0}
    dropped["classes_absent"] = [r for r, c in rare.items() if c == 0]
    if len(classes) < 2:
        raise TrainError(
            f"only {len(classes)} resolution(s) have ≥ {min_ex} examples in the training slice "
            f"({dict(fit_counts.head(5))}); a model needs at least two. Collect more labels or "
            "lower policy.min_class_examples."
        )
    return classes


def _slices(
    pipe: FeaturePipeline,
    df: pd.DataFrame,
    splits: Any,
    labels: np.ndarray,
    y_all: np.ndarray,
    free_all: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`pipe` fitted on the fit slice, and per slice its features, class indices and rule-free
    mask. Rows of classes the model does not learn leave the fit and valid slices (they stay in
    calib, cert and test, where they count as errors when resolved)."""
    fit_rows = splits["fit"][y_all[splits["fit"]] >= 0]
    pipe.fit(df.iloc[fit_rows], labels[fit_rows])
    X, y, free = {}, {}, {}
    for name, rows in splits.parts.items():
        if name in ("fit", "valid"):
            rows = rows[y_all[rows] >= 0]
        X[name] = pipe.transform(df.iloc[rows])
        y[name] = y_all[rows]
        free[name] = free_all[rows]
    return X, y, free


THRESHOLD_MODES = {False: GLOBAL, True: CLASS_CURVES, "bonferroni": BONFERRONI, "auto": None}


def _mode_of(per_class: bool | str) -> str | None:
    """The certification mode `per_class` asks for (None: chosen on the calibration slice)."""
    for key, mode in THRESHOLD_MODES.items():
        if per_class is key or (isinstance(key, str) and per_class == key):
            return mode
    raise ValueError(
        f"per_class must be False (one global threshold), True (per-class thresholds on one "
        f"certified level), 'auto' (whichever the calibration slice favours) or 'bonferroni' "
        f"(each class certified alone); got {per_class!r}."
    )


def _rank_modes(
    results: dict[str, dict[str, Any]],
    domain: Domain,
    n_classes: int,
    wanted: str | None,
    seed: int,
) -> None:
    """Per family: the mode it would be certified in and that mode's calib-slice coverage."""
    target, conf = domain.policy.target_precision, domain.policy.confidence
    for r in results.values():
        learn = (r["learn"][0], *r["learn_classes"])
        cov = {GLOBAL: r["selection_coverage"]}
        if wanted in (None, CLASS_CURVES):
            mode, cov = choose_mode(
                learn, n_classes, target_precision=target, confidence=conf, seed=seed
            )
            if wanted is not None:
                mode = wanted
        elif wanted == BONFERRONI:
            mode = BONFERRONI
            cov[BONFERRONI] = per_class_selection(*learn, n_classes, domain)
        else:
            mode = GLOBAL
        r["mode"], r["mode_coverage"] = mode, cov


def _choose(
    results: dict[str, dict[str, Any]],
    domain: Domain,
    n_classes: int,
    per_class: bool | str,
    seed: int = 0,
) -> tuple[str, str, str]:
    """(chosen family, why, certification mode), decided on the calibration slice."""
    wanted = _mode_of(per_class)
    _rank_modes(results, domain, n_classes, wanted, seed)

    def score(f: str) -> float:
        return results[f]["mode_coverage"][results[f]["mode"]]

    ranked = sorted(results, key=lambda f: (-score(f), -results[f]["calib_accuracy"], f))
    chosen = ranked[0]
    why = (
        f"{chosen}: {score(chosen):.3f} of rule-free calibration records reach precision ≥ "
        f"{domain.policy.target_precision:g} (Clopper–Pearson lower bound at "
        f"{domain.policy.confidence:g})"
        + "".join(f"; {f}: {score(f):.3f}" for f in ranked[1:])
        + ". Chosen on the calibration slice; only the chosen model is certified, on the "
        "certification slice, so the certificate carries no selection bias."
    )
    best = results[chosen]
    shown = ", ".join(f"{m} {v:.3f}" for m, v in best["mode_coverage"].items())
    why += f" Thresholds: {_MODE_WORDS[best['mode']]} " + (
        f"(chosen on the calibration slice: {shown})."
        if wanted is None
        else f"(as asked; calibration slice: {shown})."
    )
    return chosen, why, best["mode"]


_MODE_WORDS = {
    GLOBAL: "one global cut",
    CLASS_CURVES: "one per predicted class, certified together on one level",
    BONFERRONI: "one per predicted class, each certified alone (Bonferroni)",
}


def _advise(
    results: dict[str, dict[str, Any]],
    chosen: str,
    why: str,
    certificate: dict[str, Any],
    grid: np.ndarray,
) -> tuple[str, str]:
    """The family the policy carries (`advising_family`) and the selection note that says so."""
    shown = advising_family(results, chosen, certificate)
    if shown == chosen:
        return chosen, why
    why += (
        f" {chosen} certified nothing, so the model resolves nothing; the candidates shown "
        f"on deferral come from {shown}, more accurate on the calibration slice "
        f"({results[shown]['calib_accuracy']:.3f} vs {results[chosen]['calib_accuracy']:.3f})."
    )
    certificate["candidates_from"] = shown
    return shown, why


def _candidate_summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "selection_coverage": result["selection_coverage"],
        "calib_accuracy": result["calib_accuracy"],
        "estimator": result["estimator"].describe(),
        "temperature": result["scaler"].temperature_,
        "threshold_mode": result.get("mode"),
        "mode_coverage": result.get("mode_coverage"),
    }


def _not_in_model(domain: Domain, dropped: dict[str, Any]) -> dict[str, str]:
    """Resolutions the model can never predict, and why (they are never resolved by it)."""
    out = {
        r: f"only {n} training example(s), fewer than policy.min_class_examples "
        f"({domain.policy.min_class_examples}): not one of the model's classes"
        for r, n in (dropped.get("classes_below_min_examples") or {}).items()
    }
    for r in dropped.get("classes_absent") or []:
        out[r] = "no training example: not one of the model's classes"
    return out


def _split_summary(domain: Domain, df: pd.DataFrame, splits: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name, rows in splits.parts.items():
        start, end = time_range(domain, df.iloc[rows])
        out[name] = {"rows": len(rows), "time_start": start, "time_end": end}
    return out


__all__ = ["DomainError", "TrainError", "TrainReport", "train_policy"]
