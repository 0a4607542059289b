"""Measure a policy on held-out labelled records, and draw what the measurements mean.

`evaluate_policy` runs the real decision path (`Policy.decide_frame`) on the test slice and
reports coverage and realised precision (with a Clopper–Pearson interval), per-class precision,
calibration error, novelty's effect, and the same-run baselines: rules only, the uncalibrated
model's argmax on everything the rules leave, and a fixed 0.8 cut on raw probability.
`figures` turns the kept arrays into PNGs (through `model.plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autoresolve.model.binomial import interval
from autoresolve.model.plots import figure, to_png

if TYPE_CHECKING:
    from autoresolve.model.policy import Policy


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    if len(conf) == 0:
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def _precision(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    k = int((pred[mask] == truth[mask]).sum()) if n else 0
    lo, hi = interval(k, n, 0.90)
    return {"n": n, "correct": k, "precision": k / n if n else None, "ci90": [lo, hi]}


def evaluate_policy(
    policy: Policy, test_df: pd.DataFrame, *, X_test: np.ndarray | None = None
) -> dict[str, Any]:
    domain = policy.domain
    target = domain.policy.target_precision
    truth = test_df[domain.label].astype(str).to_numpy(dtype=object)
    dec = policy.decide_frame(test_df)
    res = dec["resolution"].to_numpy(dtype=object)
    by_model = (dec["source"] == "model").to_numpy()
    by_rule = (dec["source"] == "rule").to_numpy() & (dec["outcome"] == "resolved").to_numpy()
    free = dec["rule_id"].isna().to_numpy()
    X = X_test if X_test is not None else policy.pipeline.transform(test_df)
    rf = _RuleFree.of(policy, X[free], truth[free])

    model = _precision(res, truth, by_model)
    rule = _precision(res, truth, by_rule)
    per_class = {
        c: _precision(res, truth, by_model & (res == c))
        for c in policy.classes
        if (by_model & (res == c)).any()
    }
    n, n_free = len(truth), rf.n
    n_auto = int((by_model | by_rule).sum())
    overall_ok = int((res[by_model | by_rule] == truth[by_model | by_rule]).sum())
    metrics = {
        "test_records": n,
        "test_rule_free": n_free,
        "autonomy": n_auto / n if n else 0.0,
        "coverage": model["n"] / n_free if n_free else 0.0,
        "realised_precision": model["precision"],
        "realised_precision_ci90": model["ci90"],
        "target_precision": target,
        # None when the model resolved nothing: no evidence either way (not "held")
        "target_held": (model["precision"] >= target) if model["n"] else None,
        "overall_precision": overall_ok / n_auto if n_auto else None,
        "rule_precision": rule["precision"],
        "rule_resolved": rule["n"],
        "model_resolved": model["n"],
        "ece": expected_calibration_error(rf.conf, rf.correct),
        "ece_uncalibrated": expected_calibration_error(rf.raw_conf, rf.raw_correct.astype(float)),
        "accuracy_rule_free": float(rf.correct.mean()) if n_free else None,
        "deferred_by_reason": {
            str(k): int(v) for k, v in dec["defer_reason"].value_counts().to_dict().items()
        },
    }
    return {
        "metrics": metrics,
        "model": model,
        "rule": rule,
        "per_class_precision": per_class,
        "baselines": _baselines(rf, res[by_rule] == truth[by_rule], n, target),
        "novelty": _novelty_effect(policy, X[free], rf.correct),
        "threshold": policy.threshold,
        "target": target,
        "confidence_free": rf.conf,
        "correct_free": rf.correct,
        "confusion": _confusion(policy.classes, rf.truth, rf.pred),
    }


@dataclass(frozen=True)
class _RuleFree:
    """The model's view of the records no rule decides: raw and calibrated top class and score."""

    truth: np.ndarray
    pred: np.ndarray  # calibrated argmax
    correct: np.ndarray  # float 0/1
    conf: np.ndarray  # top calibrated probability
    raw_pred: np.ndarray  # uncalibrated argmax (temperature scaling keeps it; kept apart anyway)
    raw_correct: np.ndarray
    raw_conf: np.ndarray

    @property
    def n(self) -> int:
        return len(self.truth)

    @classmethod
    def of(cls, policy: Policy, Xf: np.ndarray, truth: np.ndarray) -> _RuleFree:
        raw = policy.estimator.predict_proba(Xf, num_threads=policy.batch_threads)
        cal = policy.calibrator.apply(raw)
        classes = np.array(policy.classes, dtype=object)
        some = len(Xf) > 0
        pred = classes[cal.argmax(axis=1)] if some else np.array([], dtype=object)
        raw_pred = classes[raw.argmax(axis=1)] if some else pred
        return cls(
            truth=truth,
            pred=pred,
            correct=(pred == truth).astype(float),
            conf=cal.max(axis=1) if some else np.array([]),
            raw_pred=raw_pred,
            raw_correct=raw_pred == truth,
            raw_conf=raw.max(axis=1) if some else np.array([]),
        )


def _baselines(
    rf: _RuleFree, rule_right: np.ndarray, n: int, target: float
) -> dict[str, dict[str, Any]]:
    """Same-run baselines: rules only, the raw argmax on every rule-free record, a raw 0.8 cut.

    The raw-probability baselines judge the raw argmax, not the calibrated one.
    """
    rule_ok, rule_n = int(rule_right.sum()), len(rule_right)

    def accepting(accept: np.ndarray) -> dict[str, Any]:
        k = int((rf.pred[accept] == rf.truth[accept]).sum())
        m = int(accept.sum())
        tot = m + rule_n
        return {
            "model_coverage": m / rf.n if rf.n else 0.0,
            "model_precision": k / m if m else None,
            "autonomy": tot / n if n else 0.0,
            "precision": (k + rule_ok) / tot if tot else None,
            "target_held": (k / m >= target) if m else None,
        }

    return {
        "rules_only": accepting(np.zeros(rf.n, dtype=bool)),
        "argmax_uncalibrated": {
            **accepting(np.ones(rf.n, dtype=bool)),
            "model_precision": float(rf.raw_correct.mean()) if rf.n else None,
        },
        "raw_cut_0.8": accepting(rf.raw_conf >= 0.8),
    }


def _novelty_effect(policy: Policy, Xf: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    """How often the novelty detector fires on rule-free test records, and how right the model
    is on the records it flags versus the familiar ones."""
    if policy.novelty is None or not len(Xf):
        return {}
    flags = policy.novelty.flags(Xf)
    nov = flags["novel"]
    return {
        "test_novel_share": float(nov.mean()),
        "test_accuracy_novel": float(correct[nov].mean()) if nov.any() else None,
        "test_accuracy_familiar": float(correct[~nov].mean()) if (~nov).any() else None,
        "test_novel_count": int(nov.sum()),
        **{f"test_{k}_count": int(v.sum()) for k, v in flags.items() if k != "novel"},
    }


def _confusion(classes: Sequence[str], truth: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """True × predicted counts; true labels the model cannot predict get rows of their own."""
    labels = list(classes)
    extra = sorted(set(truth) - set(labels))
    return pd.crosstab(
        pd.Categorical(truth, categories=labels + extra),
        pd.Categorical(pred, categories=labels),
        dropna=False,
    )


def coverage_precision_curve(conf: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(-conf, kind="stable")
    c = correct[order]
    k = np.arange(1, len(c) + 1)
    return k / len(c), np.cumsum(c) / k, conf[order]


def figures(evaluation: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes keyed by file name."""
    conf = evaluation["confidence_free"]
    correct = evaluation["correct_free"]
    out: dict[str, bytes] = {}

    fig = figure(5, 5)
    ax = fig.add_subplot(1, 1, 1)
    edges = np.linspace(0, 1, 11)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, 9)
    xs, ys, ns = [], [], []
    for b in range(10):
        m = idx == b
        if m.any():
            xs.append(conf[m].mean())
            ys.append(correct[m].mean())
            ns.append(int(m.sum()))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(xs, ys, "o-", label="calibrated model")
    for x, yv, k in zip(xs, ys, ns, strict=True):
        ax.annotate(str(k), (x, yv), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set(
        xlabel="top calibrated probability",
        ylabel="accuracy",
        title=f"Reliability (test, rule-free); ECE {evaluation['metrics']['ece']:.3f}",
    )
    ax.legend(loc="upper left")
    out["reliability.png"] = to_png(fig, dpi=110)

    fig = figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    if len(conf):
        cov, prec, _ = coverage_precision_curve(conf, correct)
        ax.plot(cov, prec, label="model (test, rule-free)")
        thr = evaluation["threshold"]
        if thr is not None:
            m = conf >= thr
            if m.any():
                ax.plot(m.mean(), correct[m].mean(), "r*", ms=12, label=f"certified λ={thr:.3f}")
    ax.axhline(evaluation["target"], color="grey", ls="--", label="target precision")
    ax.set(xlabel="coverage", ylabel="precision", title="Coverage vs precision", ylim=(0, 1.01))
    ax.legend(loc="lower left")
    out["coverage_precision.png"] = to_png(fig, dpi=110)

    cm = evaluation["confusion"]
    fig = figure(1.0 + 0.5 * cm.shape[1], 1.0 + 0.45 * cm.shape[0])
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cm.to_numpy(), cmap="Blues")
    ax.set_xticks(range(cm.shape[1]), [str(c) for c in cm.columns], rotation=60, ha="right")
    ax.set_yticks(range(cm.shape[0]), [str(c) for c in cm.index])
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            v = int(cm.iat[i, j])
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted (argmax)", ylabel="true", title="Confusion (test, rule-free)")
    out["confusion_matrix.png"] = to_png(fig, dpi=110)
    return out
