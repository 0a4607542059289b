"""What is served: the certified policy, its audit sample, and the precision guard's verdict.

The certified `Policy` says what it would decide; serving adds two things to each automatic
decision (a rule or the model resolves the record):

- `audit`: a seeded share of them is sampled for labelling (model/audit.py);
- the guard (model/guard.py): a model resolution under the threshold in effect, every model
  resolution while the model is suspended, and a quarantined rule's resolution become deferrals
  with reason `guard`, and `guard_reason` says which evidence moved it.

A guard-deferred decision keeps its `source` (and `rule_id`, confidence and candidates): it is
still the record the certified policy would resolve, so its audit label is evidence for the
stream that deferred it — how the guard recovers by evidence, never by a timer.

Pure: the service builds a `ServedPolicy` from the policy and the guard state it read from the
store, and swaps one reference when either changes; `simulate` can wrap its champion the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.audit import audit_mask, check_share, is_audited
from autoresolve.model.decision import SERVED_COLUMNS, Decision
from autoresolve.model.guard import (
    GuardState,
    Stream,
    Verdict,
    decide,
    guard_levels,
    new_guard,
    observe_model,
    observe_rule,
)
from autoresolve.model.records import RecordError
from autoresolve.model.rule_health import rule_bar


def certified_floor(policy: Any) -> float:
    """The model's first guard level: its global λ, or the lowest per-class λ (a record the
    certified policy resolves always reaches it); 1.0 when the model resolves nothing."""
    if getattr(policy, "threshold", None) is not None:
        return float(policy.threshold)
    finite = [float(t) for t in getattr(policy, "class_thresholds", ()) if np.isfinite(t)]
    return min(finite) if finite else 1.0


def rule_thens(policy: Any) -> dict[str, str]:
    """Each resolving rule's resolution (what a guard-deferred rule decision would have said)."""
    return {r.id: r.then for r in getattr(policy.rules, "rules", ()) or () if r.then != "defer"}


def guard_for(policy: Any) -> GuardState:
    """A fresh guard for a newly served policy: the model at its certified λ and a few stricter
    candidates, each resolving rule against its bar (rule_health's: the target, or a learned
    rule's own higher bar)."""
    target = policy.domain.policy.target_precision
    rules = {r.id: r for r in getattr(policy.rules, "rules", ()) or () if r.then != "defer"}
    # (a policy without rules, or a stand-in without a grid, still gets the model's stream)
    return new_guard(
        str(policy.version),
        target=target,
        confidence=policy.domain.policy.confidence,
        levels=guard_levels(certified_floor(policy), tuple(getattr(policy, "candidate_grid", ()))),
        rule_targets={rid: rule_bar(rule, target) for rid, rule in rules.items()},
    )


def observe_labelled(
    state: GuardState, decision: Mapping[str, Any], label: str, thens: Mapping[str, str]
) -> GuardState:
    """The guard after the first label of one logged decision (DecisionOut's JSON shape).

    Only audited decisions of the guard's policy version count (a random sample of what that
    policy resolves, served or deferred by the guard); anything else leaves the state as it is.
    """
    if not decision.get("audit") or str(decision.get("policy_version")) != state.policy_version:
        return state
    source, rule_id = decision.get("source"), decision.get("rule_id")
    if source == "rule" and rule_id in state.rule_targets and rule_id in thens:
        return observe_rule(state, str(rule_id), label == thens[str(rule_id)])
    candidates = decision.get("candidates") or []
    if source == "model" and candidates and decision.get("confidence") is not None:
        top = candidates[0]
        answer = top["resolution"] if isinstance(top, Mapping) else top.resolution
        return observe_model(state, float(decision["confidence"]), label == answer)
    return state


def _evidence(stream: Stream, target: float) -> str:
    shown = "—" if stream.precision is None else f"{stream.precision:.3f}"
    return f"audited {stream.n - stream.wrong}/{stream.n} right ({shown}) against {target:g}"


@dataclass(frozen=True)
class GuardView:
    """The guard's verdict as serving applies it, with the reasons decisions carry."""

    state: GuardState
    seq: int = 0
    verdict: Verdict = field(init=False)
    model_reason: str | None = field(init=False)
    rule_reasons: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        s, v = self.state, decide(self.state)
        object.__setattr__(self, "verdict", v)
        bar = f"e-value ≥ {1 / s.alpha:g}, anytime-valid at α = {s.alpha:g}"
        model_reason = None
        if v.level > 0:
            below = s.model[v.level - 1]
            head = (
                "model resolutions suspended by the precision guard"
                if v.model_suspended
                else f"threshold raised by the precision guard to {v.threshold:.4f} "
                f"(certified {s.levels[0]:.4f})"
            )
            model_reason = (
                f"{head}: at λ={s.levels[v.level - 1]:.4f} {_evidence(below, s.target)} "
                f"({bar}); recertification requested."
            )
        object.__setattr__(self, "model_reason", model_reason)
        object.__setattr__(
            self,
            "rule_reasons",
            {
                r: f"rule '{r}' quarantined by the precision guard: "
                f"{_evidence(s.rules[r], s.rule_targets[r])} ({bar}); recertification requested."
                for r in sorted(v.quarantined)
            },
        )

    @property
    def floor(self) -> float | None:
        """The raised threshold (None: the certified thresholds stand, or the model is off)."""
        v = self.verdict
        return v.threshold if v.level > 0 and not v.model_suspended else None

    @property
    def status(self) -> str:
        v = self.verdict
        model = (
            "suspended" if v.model_suspended else "threshold_raised" if v.level > 0 else "certified"
        )
        return model + ("+rules_quarantined" if v.quarantined else "")

    @property
    def recertify(self) -> bool:
        return bool(self.verdict.recertify or self.verdict.quarantined)

    def describe(self) -> dict[str, Any]:
        """What `/v1/policy` and `report` show: state, threshold, quarantines, the evidence."""
        s, v = self.state, self.verdict
        return {
            "state": self.status,
            "policy_version": s.policy_version,
            "seq": self.seq,
            "certified_threshold": s.levels[0],
            "threshold_in_effect": v.threshold,
            "model_suspended": v.model_suspended,
            "quarantined_rules": sorted(v.quarantined),
            "recertification_requested": self.recertify,
            "reason": v.reason,
            "why": {"model": self.model_reason, **self.rule_reasons},
            "target": s.target,
            "confidence": s.confidence,
            "evidence": {
                "model": [
                    {"threshold": lam, **_stream_evidence(st)}
                    for lam, st in zip(s.levels, s.model, strict=True)
                ],
                "rules": {
                    r: {"bar": s.rule_targets[r], **_stream_evidence(st)}
                    for r, st in sorted(s.rules.items())
                    if st.n
                },
            },
        }


def _stream_evidence(st: Stream) -> dict[str, Any]:
    return {
        "audited": st.n,
        "wrong": st.wrong,
        "precision": st.precision,
        "e_drop": float(np.exp(st.log_e_drop)),
        "e_recover": float(np.exp(st.log_e_recover)),
        "alarmed": st.alarmed,
        "alarms": st.alarms,
        "recoveries": st.recoveries,
    }


class ServedPolicy:
    """The policy as served: its decisions, audited and guarded. Immutable; rebuilt to change."""

    def __init__(
        self, policy: Any, view: GuardView | None, *, audit_share: float, audit_seed: int = 0
    ):
        if view is not None and view.state.policy_version != str(policy.version):
            view = None  # another version's verdict never applies
        self.policy = policy
        self.view = view
        self.audit_share = check_share(audit_share)
        self.audit_seed = int(audit_seed)
        self.version = policy.version
        verdict = view.verdict if view is not None else None
        self._suspended = bool(verdict and verdict.model_suspended)
        self._floor = view.floor if view is not None else None
        self._quarantined = verdict.quarantined if verdict is not None else frozenset()

    def decide_records(
        self, records: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> list[Decision | RecordError]:
        out = self.policy.decide_records(records, now)
        return [d if isinstance(d, Exception) else self.serve(d) for d in out]

    def decide_record(self, record: Mapping[str, Any], now: datetime | None = None) -> Decision:
        return self.serve(self.policy.decide_record(record, now))

    def serve(self, d: Decision) -> Decision:
        """One certified decision as served (unchanged unless audited or guarded: the hot path)."""
        if d.outcome != "resolved":
            return d
        audit = is_audited(d.record_id, self.audit_share, self.audit_seed)
        why, threshold = self._guarded(d.source, d.rule_id, d.confidence, d.threshold)
        if why is None:
            return replace(d, audit=True) if audit else d
        return replace(
            d,
            outcome="deferred",
            resolution=None,
            threshold=threshold,
            defer_reason="guard",
            guard_reason=why,
            audit=audit,
        )

    def _guarded(
        self, source: Any, rule_id: Any, conf: Any, thr: Any
    ) -> tuple[str | None, float | None]:
        view = self.view
        if view is None:
            return None, thr
        if source == "rule":
            return (view.rule_reasons.get(rule_id) if rule_id in self._quarantined else None), thr
        if source != "model":
            return None, thr
        if self._suspended:
            return view.model_reason, thr
        if self._floor is not None and conf is not None and conf < self._floor:
            return view.model_reason, self._floor
        return None, thr

    def decide_frame(self, df: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
        """The table path: the same audit sample and the same guard as `serve`, by column."""
        out = self.policy.decide_frame(df, now)
        resolved = (out["outcome"] == "resolved").to_numpy()
        audit = resolved & audit_mask(out["record_id"], self.audit_share, self.audit_seed)
        reasons = np.full(len(out), None, dtype=object)
        thresholds = out["threshold"].to_numpy(dtype=np.float64, copy=True)
        if self.view is not None:
            rows = np.flatnonzero(resolved)
            for i, s, r, c, t in zip(
                rows.tolist(),
                out["source"].to_numpy()[rows].tolist(),
                out["rule_id"].to_numpy()[rows].tolist(),
                out["confidence"].to_numpy()[rows].tolist(),
                thresholds[rows].tolist(),
                strict=True,
            ):
                why, thr = self._guarded(s, r, c, t)
                if why is not None:
                    reasons[i], thresholds[i] = why, np.nan if thr is None else thr
        guarded = pd.notna(reasons)
        out["threshold"] = thresholds
        out.loc[guarded, "outcome"] = "deferred"
        out.loc[guarded, "resolution"] = None
        out.loc[guarded, "defer_reason"] = "guard"
        out["audit"] = audit
        out["guard_reason"] = pd.Series(reasons, dtype=object, index=out.index)
        return out[list(SERVED_COLUMNS)]

    def describe(self) -> dict[str, Any]:
        """The guard section of `/v1/policy`: what is applied, and the audit share behind it."""
        view = self.view or GuardView(guard_for(self.policy))
        return view.describe() | {"audit_share": self.audit_share}
