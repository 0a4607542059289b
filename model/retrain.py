"""Promotion gates and the `--if-needed` trigger: pure decisions, no IO.

A challenger replaces the champion only when, on the same recent window of labelled records that the
challenger never trained on:

1. **certificate** — it holds a certified threshold (its own calibration split produced one), and
   its realised precision on the window is not significantly below the target: the one-sided
   Clopper–Pearson *upper* bound of the precision of its model-resolved window records, at the
   domain's confidence, is ≥ `target_precision` (with no model-resolved records there is no evidence
   against it, and the gate rests on the certificate alone);
2. **coverage** — its coverage (share of records resolved automatically, rules and model
   together) is at least the champion's coverage on the same records minus `tolerance`. When the
   caller passes recent `traffic` (records, labels not needed), coverage is compared there;
   otherwise on the window. Coverage needs no label, and the labelled window is a biased sample
   of traffic — mostly the champion's deferrals, where the champion's coverage is near zero — so
   on the window alone a challenger that resolves much less of what the champion resolves could
   still pass (the CRM replay showed one such promotion before the replay passed its traffic).

The window (chosen by the retraining job, `model.retraining`, with `split_recent_window`) is the
newest labelled records, by time of labelling, that are held out of the challenger's training data:
25% of them, at least `MIN_WINDOW` and at most `MAX_WINDOW` (1,000). The cap is there because the
window is also what the challenger cannot learn from: an uncapped 25% of a year of labels is the
last two to three months of them, so a new kind of case reached a challenger's training data only
months after it appeared (measured on the CRM replay, docs/autonomy.md). 1,000 records still make
both gates real: both policies decide the same records, so a coverage loss beyond the 0.02 tolerance
shows, and a model realising ~90% on a few hundred window resolutions has a Clopper–Pearson upper
bound below 0.95 and is refused (the CRM replay refuses several challengers this way). Note the
window holds the labels a deployment gets — mostly the champion's deferrals, the harder records — so
its precision reads low compared with all traffic: a conservative gate.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.binomial import upper_bound
from autoresolve.model.rule_changes import rule_changes

DEFAULT_TOLERANCE = 0.02
MIN_WINDOW = 100
WINDOW_FRACTION = 0.25
MAX_WINDOW = 1_000


@dataclass(frozen=True)
class WindowStats:
    """How one policy did on the window."""

    records: int
    resolved: int
    coverage: float
    model_resolved: int
    model_correct: int
    model_precision: float | None
    model_precision_upper: float | None
    precision: float | None  # of all automatic resolutions (rules and model)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: tuple[str, ...]
    challenger: WindowStats
    champion: WindowStats | None
    tolerance: float
    target_precision: float
    confidence: float
    # coverage of both policies on recent traffic, when the caller gave it
    traffic_coverage: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


@dataclass(frozen=True)
class RetrainNeed:
    needed: bool
    reasons: tuple[str, ...]
    new_labels: int
    drifted: dict[str, float]
    rules_changed: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


def _discounted(decisions: pd.DataFrame, unsound: Collection[str]) -> pd.DataFrame:
    """The decisions with those of `unsound` rules (shown below their bar) counted as deferred:
    coverage a rule earns by being wrong is not coverage a challenger must keep."""
    if not unsound or "rule_id" not in decisions.columns:
        return decisions
    bad = decisions["rule_id"].isin(list(unsound)).to_numpy()
    if not bad.any():
        return decisions
    out = decisions.copy()
    out.loc[bad, "outcome"] = "deferred"
    out.loc[bad, "resolution"] = None
    return out


def window_stats(
    decisions: pd.DataFrame, truth: pd.Series, confidence: float, unsound: Collection[str] = ()
) -> WindowStats:
    """Coverage and realised precision of one policy's decisions against the true labels."""
    truth = pd.Series(truth).reset_index(drop=True).astype(object)
    d = _discounted(decisions.reset_index(drop=True), unsound)
    n = len(d)
    resolved = (d["outcome"] == "resolved").to_numpy()
    correct = (d["resolution"].astype(object).to_numpy() == truth.to_numpy()) & resolved
    model = resolved & (d["source"] == "model").to_numpy()
    k_model = int(model.sum())
    c_model = int((correct & model).sum())
    k = int(resolved.sum())
    return WindowStats(
        records=n,
        resolved=k,
        coverage=k / n if n else 0.0,
        model_resolved=k_model,
        model_correct=c_model,
        model_precision=c_model / k_model if k_model else None,
        model_precision_upper=upper_bound(c_model, k_model, confidence) if k_model else None,
        precision=int(correct.sum()) / k if k else None,
    )


def _certificate(policy: Any) -> Mapping[str, Any]:
    cert = getattr(policy, "certificate", None)
    if cert is None:
        try:
            cert = policy.describe().get("certificate")
        except Exception:
            cert = None
    if cert is None:
        return {}
    if isinstance(cert, Mapping):
        return cert
    return vars(cert) if hasattr(cert, "__dict__") else {}


def certified_threshold(policy: Any) -> tuple[float | None, str]:
    """The policy's certified threshold (or the lowest per-class one) and the certificate reason."""
    cert = _certificate(policy)
    reason = str(cert.get("reason", "") or "")
    thr = cert.get("threshold")
    if thr is None:
        per_class = cert.get("thresholds") or cert.get("per_class") or {}
        values = [
            v.get("threshold") if isinstance(v, Mapping) else v
            for v in (per_class.values() if isinstance(per_class, Mapping) else [])
        ]
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        thr = min(finite) if finite else None
    if thr is not None and not math.isfinite(float(thr)):
        thr = None
    return (float(thr) if thr is not None else None), reason


def evaluate_gates(
    challenger: Any,
    champion: Any | None,
    window: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Any = None,
    traffic: pd.DataFrame | None = None,
    unsound_rules: Collection[str] = (),
    allow_removed_rules: bool = False,
) -> GateResult:
    """Decide the window (and `traffic`, if given) with both policies; apply the gates.

    `unsound_rules`: rules of the champion shown below their bar on recent labels (retired by
    the retraining job); what they resolve is not counted as the champion's coverage, or
    retiring a bad rule would always fail the coverage gate. Any other rule of the champion
    missing from the challenger fails the rules gate unless `allow_removed_rules` (a rule file
    cut short still parses, and the fewer rules can even look like more coverage)."""
    domain = challenger.domain
    target = float(domain.policy.target_precision)
    conf = float(domain.policy.confidence)
    truth = window[domain.label]
    records = window.drop(columns=[domain.label]).reset_index(drop=True)
    ch = window_stats(challenger.decide_frame(records, now=now), truth, conf)
    cp = (
        window_stats(champion.decide_frame(records, now=now), truth, conf, unsound_rules)
        if champion is not None
        else None
    )
    traffic_cov = (
        _traffic_coverage(challenger, champion, traffic, domain.label, now, unsound_rules)
        if champion is not None
        else None
    )
    verdicts = [
        _rules_gate(challenger, champion, unsound_rules, allow_removed_rules),
        _certificate_gate(challenger),
        _precision_gate(ch, target, conf),
        _coverage_gate(ch, cp, traffic_cov, tolerance),
    ]
    return GateResult(
        passed=all(ok for ok, _ in verdicts),
        reasons=tuple(line for _, line in verdicts),
        challenger=ch,
        champion=cp,
        tolerance=float(tolerance),
        target_precision=target,
        confidence=conf,
        traffic_coverage=traffic_cov,
    )


def _rules_gate(
    challenger: Any, champion: Any | None, retired: Collection[str], allowed: bool
) -> tuple[bool, str]:
    if champion is None:
        return True, "rules: no champion to compare with."
    removed = [
        r
        for r in rule_changes(
            getattr(champion, "rules", None), getattr(challenger, "rules", None)
        ).removed
        if r not in set(retired)
    ]
    if not removed:
        return True, "rules: every rule of the champion is kept (or retired as unsound)."
    names = ", ".join(removed[:20]) + (f" (+{len(removed) - 20} more)" if len(removed) > 20 else "")
    if allowed:
        return True, f"rules: {len(removed)} rule(s) removed on purpose: {names}."
    return False, (
        f"rules: {len(removed)} rule(s) of the champion are missing from the challenger's rule "
        f"set: {names}. Is rules.yaml cut short or edited by mistake? If the removal is meant, "
        "run again with --allow-removed-rules."
    )


def _certificate_gate(challenger: Any) -> tuple[bool, str]:
    thr, why = certified_threshold(challenger)
    if thr is None:
        detail = f" ({why})" if why else ""
        return False, f"certificate: the challenger has no certified threshold{detail}."
    return True, f"certificate: the challenger holds a certified threshold λ={thr:.4f}."


def _precision_gate(ch: WindowStats, target: float, conf: float) -> tuple[bool, str]:
    if not ch.model_resolved or ch.model_precision_upper is None:
        return True, (
            f"window precision: the challenger's model resolved none of the {ch.records} "
            "window records; no evidence against its certificate."
        )
    line = (
        f"window precision: the challenger's model resolved {ch.model_resolved} of "
        f"{ch.records} window records at precision {ch.model_precision:.3f} "
        f"(upper bound {ch.model_precision_upper:.3f} at confidence {conf:g}; "
        f"target {target:g})"
    )
    if ch.model_precision_upper < target:
        return False, line + ": significantly below the target."
    return True, line + ": consistent with the target."


def _traffic_coverage(
    challenger: Any,
    champion: Any,
    traffic: pd.DataFrame | None,
    label: str,
    now: Any,
    unsound: Collection[str] = (),
) -> dict[str, float] | None:
    if traffic is None or not len(traffic):
        return None
    recent = traffic.drop(columns=[label], errors="ignore").reset_index(drop=True)
    return {
        "records": float(len(recent)),
        "challenger": _coverage(challenger.decide_frame(recent, now=now)),
        "champion": _coverage(_discounted(champion.decide_frame(recent, now=now), unsound)),
    }


def _coverage_gate(
    ch: WindowStats,
    cp: WindowStats | None,
    traffic_cov: dict[str, float] | None,
    tolerance: float,
) -> tuple[bool, str]:
    if cp is None:
        return True, "coverage: no champion to compare with."
    if traffic_cov is not None:
        c_ch, c_cp = traffic_cov["challenger"], traffic_cov["champion"]
        where = f"the {int(traffic_cov['records'])} most recent records (unlabelled traffic)"
    else:
        c_ch, c_cp = ch.coverage, cp.coverage
        where = f"the same {ch.records} window records"
    bar = c_cp - tolerance
    line = (
        f"coverage: challenger {c_ch:.3f} vs champion {c_cp:.3f} on {where} "
        f"(tolerance {tolerance:g})"
    )
    if c_ch + 1e-12 < bar:
        return False, line + f": below the bar {bar:.3f}."
    return True, line + ": at or above the bar."


def _coverage(decisions: pd.DataFrame) -> float:
    return float((decisions["outcome"] == "resolved").mean()) if len(decisions) else 0.0


def split_recent_window(
    labelled: pd.DataFrame,
    *,
    order_by: str | list[str],
    fraction: float = WINDOW_FRACTION,
    min_records: int = MIN_WINDOW,
    max_records: int | None = MAX_WINDOW,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older, window): the newest min(max_records, max(min_records, ⌈fraction·n⌉)) rows.

    Ties keep input order (stable sort). When the table has fewer than 2·min_records rows, the
    window is its newer half, so both parts keep some data.
    """
    n = len(labelled)
    if n == 0:
        return labelled, labelled
    keys = [order_by] if isinstance(order_by, str) else list(order_by)
    ordered = labelled.sort_values(keys, kind="stable", na_position="first")
    size = max(min_records, math.ceil(fraction * n))
    if max_records is not None:
        size = min(size, max(max_records, min_records))
    if n < 2 * min_records:
        size = n // 2
    size = int(np.clip(size, 0, n))
    return ordered.iloc[: n - size], ordered.iloc[n - size :]


def retrain_needed(
    *,
    new_labels: int,
    min_new_labels: int,
    drift_scores: Mapping[str, float],
    psi_bar: float,
    champion_rules_version: str | None,
    rules_version: str | None,
) -> RetrainNeed:
    """Whether `retrain --if-needed` should act: enough new labels, drift, or a changed rule set."""
    reasons: list[str] = []
    drifted = dict(
        sorted(((k, float(v)) for k, v in drift_scores.items() if v > psi_bar), key=lambda x: -x[1])
    )
    rules_changed = bool(
        champion_rules_version and rules_version and champion_rules_version != rules_version
    )
    if new_labels >= min_new_labels:
        reasons.append(
            f"{new_labels} new labels since the champion was trained (threshold {min_new_labels})."
        )
    if drifted:
        shown = ", ".join(f"{k} (PSI {v:.2f})" for k, v in list(drifted.items())[:5])
        reasons.append(f"drift above PSI {psi_bar:g} in {shown}.")
    if rules_changed:
        reasons.append(
            f"the rule set changed ({champion_rules_version[:12]} → {rules_version[:12]})."
        )
    needed = bool(reasons)
    if not needed:
        top = max(drift_scores.items(), key=lambda kv: kv[1], default=None)
        drift_note = f"largest PSI {top[1]:.2f} ({top[0]})" if top else "no recent traffic"
        reasons.append(
            f"nothing to do: {new_labels} new labels (< {min_new_labels}), "
            f"no drift above PSI {psi_bar:g} ({drift_note}), rule set unchanged."
        )
    return RetrainNeed(
        needed=needed,
        reasons=tuple(reasons),
        new_labels=int(new_labels),
        drifted=drifted,
        rules_changed=rules_changed,
    )
