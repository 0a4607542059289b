"""The precision guard (model/guard.py) put to one policy's decisions: what it watches, what it
is fed, and what it changes in a decision.

`model/guard.py` is the statistics on streams of right/wrong outcomes; this module is the glue to
a policy and its decision frames, the one implementation serving (model/serving.py) and the
replay (model/simulate.py) both run:

- `guard_for(policy)`: a fresh guard for a served policy version — the model watched at its
  certified λ (the lowest class λ when each class has its own: the guard then acts as a floor on
  every class's λ) and at stricter candidates of its certificate's grid; every resolving rule
  against its bar (the domain's target, a learned rule's own bar when higher).
- `observe_audits(state, decisions, correct)` / `observe_labelled(...)`: audited decisions of the
  *certified* policy (what it would have decided without the guard, so labels for the levels
  below the one in effect keep arriving and recovery stays possible), a frame at a time (the
  replay) or one logged decision at a time (the service's label writer); `fed_streams` says which
  stream a decision feeds, for both.
- `GuardView(state)`: the verdict with the reasons a held decision carries; `apply_verdict(frame,
  view)`: an already-decided frame with the verdict in effect — model resolutions below the
  raised threshold (all of them, when suspended) and those of quarantined rules become deferrals
  with reason `guard` and a `guard_reason`. A held decision keeps its `source`, `rule_id` and
  confidence: it is still the record the certified policy would resolve, so its audit label is
  evidence for the stream that held it (how the guard recovers by evidence, never by a timer).

Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.guard import (
    GuardState,
    Stream,
    Verdict,
    decide,
    guard_levels,
    new_guard,
    step_arrays,
)
from autoresolve.model.rule_health import rule_bar

GUARD_REASON = "guard"


def certified_floor(policy: Any) -> float | None:
    """The model's first guard level: the lowest class λ (a record the certified policy resolves
    always reaches it), or the global one of a policy without classes' own; None when the model
    resolves nothing."""
    by_class = getattr(policy, "class_thresholds", None)
    if by_class is None:
        t = getattr(policy, "threshold", None)
        if t is None:
            t = (getattr(policy, "certificate", None) or {}).get("threshold")
        by_class = [] if t is None else [t]
    finite = [float(t) for t in np.asarray(by_class, dtype=np.float64) if np.isfinite(t)]
    return min(finite) if finite else None


def _resolving_rules(policy: Any) -> list[Any]:
    rules = getattr(getattr(policy, "rules", None), "rules", None) or ()
    return [r for r in rules if r.then != "defer"]


def rule_targets(policy: Any, target: float) -> dict[str, float]:
    """Each resolving rule of the policy's rule set with its bar."""
    return {r.id: rule_bar(r, target) for r in _resolving_rules(policy)}


def rule_thens(policy: Any) -> dict[str, str]:
    """Each resolving rule's resolution (what a guard-deferred rule decision would have said)."""
    return {r.id: r.then for r in _resolving_rules(policy)}


def guard_for(policy: Any) -> GuardState:
    """A fresh guard for a newly served `policy` (no evidence yet), at its domain's target and
    confidence. A policy that resolves nothing gets one level at 1.0 that no audited model
    decision reaches (there are none)."""
    settings = policy.domain.policy
    floor = certified_floor(policy)
    grid = tuple(getattr(policy, "candidate_grid", ()) or ())
    return new_guard(
        str(getattr(policy, "version", "")),
        target=settings.target_precision,
        confidence=settings.confidence,
        levels=guard_levels(floor, grid) if floor is not None else (1.0,),
        rule_targets=rule_targets(policy, settings.target_precision),
    )


def fed_streams(decisions: pd.DataFrame, state: GuardState) -> tuple[np.ndarray, np.ndarray]:
    """Which audited decisions feed the model's streams (at their confidence) and which a watched
    rule's. By source, not outcome: a decision the guard held keeps its source, and its label is
    evidence for the stream that held it."""
    source = decisions["source"].to_numpy()
    by_model = (source == "model") & decisions["confidence"].notna().to_numpy()
    watched = decisions["rule_id"].isin(list(state.rule_targets)).to_numpy()
    return by_model, (source == "rule") & watched


def observe_labelled(
    state: GuardState, decision: Mapping[str, Any], label: str, thens: Mapping[str, str]
) -> GuardState:
    """The guard after the first label of one logged decision (DecisionOut's JSON shape); right
    when the label is what the certified policy answered (the rule's resolution, the model's top
    candidate), whether it was served or held.

    Only audited decisions of the guard's policy version count (a random sample of what that
    policy resolves, served or held by the guard); anything else leaves the state as it is.
    """
    if not decision.get("audit") or str(decision.get("policy_version")) != state.policy_version:
        return state
    source, rule_id = decision.get("source"), decision.get("rule_id")
    candidates = decision.get("candidates") or []
    if source == "rule" and rule_id in thens:
        answer = thens[str(rule_id)]
    elif source == "model" and candidates:
        top = candidates[0]
        answer = top["resolution"] if isinstance(top, Mapping) else top.resolution
    else:
        return state
    row = pd.DataFrame(
        {"source": [source], "rule_id": [rule_id], "confidence": [decision.get("confidence")]},
        dtype=object,
    )
    return observe_audits(state, row, np.array([label == answer]))


def observe_audits(state: GuardState, decisions: pd.DataFrame, correct: np.ndarray) -> GuardState:
    """`state` after the audited `decisions` (the certified policy's, in decision order) and
    whether each was right. Decisions that feed no stream (`fed_streams`) are skipped.

    The same as `observe_model` / `observe_rule` label by label (tests/model/test_guard_policy.py
    holds them equal), with every stream's state kept in arrays between labels: each stream
    sees its own labels in decision order, which is all its bets depend on."""
    right = np.asarray(correct, dtype=bool)
    by_model, by_rule = fed_streams(decisions, state)
    conf = decisions["confidence"].to_numpy(dtype=np.float64)[by_model]
    reach = conf[:, None] >= np.asarray(state.levels)[None, :]
    model = fold_streams(state.model, reach, right[by_model], state.target, state.alpha)
    rule_id = decisions["rule_id"].to_numpy()[by_rule]
    rules = dict(state.rules)
    for bar in sorted(set(state.rule_targets.values())):
        ids = [r for r, t in state.rule_targets.items() if t == bar]
        hits = rule_id[:, None] == np.asarray(ids, dtype=object)[None, :]
        folded = fold_streams(tuple(rules[r] for r in ids), hits, right[by_rule], bar, state.alpha)
        rules.update(zip(ids, folded, strict=True))
    return replace(state, model=model, rules=rules)


def fold_streams(
    streams: tuple[Stream, ...],
    reach: np.ndarray,
    correct: np.ndarray,
    target: float,
    alpha: float,
) -> tuple[Stream, ...]:
    """Label t folded into the streams row t of `reach` (labels × streams) marks, each in its
    own order. `correct`: one outcome per label, or one per label and stream (labels × streams,
    e.g. many independent streams simulated at once)."""
    if not streams or not reach.any():
        return streams
    right = np.broadcast_to(correct[:, None] if correct.ndim == 1 else correct, reach.shape)
    arrays = {f.name: np.array([getattr(s, f.name) for s in streams]) for f in fields(Stream)}
    every = reach.all(axis=1)
    for t in np.flatnonzero(reach.any(axis=1)):
        if every[t]:  # every stream: no indexing (most labels of a rule, or of a single level)
            arrays = step_arrays(arrays, right[t], target, alpha)
            continue
        hit = reach[t]
        out = step_arrays({k: v[hit] for k, v in arrays.items()}, right[t, hit], target, alpha)
        for k, v in out.items():
            arrays[k][hit] = v
    return tuple(
        Stream.from_dict({k: v[i].item() for k, v in arrays.items()}) for i in range(len(streams))
    )


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

    def hold(
        self, source: Any, rule_id: Any, confidence: Any, threshold: Any
    ) -> tuple[str | None, Any]:
        """Why the verdict holds one certified resolution (None: it is served) and the threshold
        it then carries (the raised one for a model resolution under it)."""
        v = self.verdict
        if source == "rule":
            return (self.rule_reasons.get(rule_id) if rule_id in v.quarantined else None), threshold
        if source != "model":
            return None, threshold
        if v.model_suspended:
            return self.model_reason, threshold
        floor = self.floor
        if floor is not None and confidence is not None and confidence < floor:
            return self.model_reason, floor
        return None, threshold

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


def apply_verdict(decisions: pd.DataFrame, view: GuardView | None) -> pd.DataFrame:
    """An already-decided frame as served with `view`'s verdict in effect (a copy, with
    `guard_reason`): each resolution the verdict holds (`GuardView.hold`) becomes a deferral with
    reason `guard`, keeping its source, rule id and confidence. No view: nothing is held."""
    out = decisions.copy()
    reasons = np.full(len(out), None, dtype=object)
    thresholds = out["threshold"].to_numpy(dtype=np.float64, copy=True)
    if view is not None and (view.verdict.level > 0 or view.verdict.quarantined):
        rows = np.flatnonzero((out["outcome"] == "resolved").to_numpy())
        for i, s, r, c, t in zip(
            rows.tolist(),
            out["source"].to_numpy()[rows].tolist(),
            out["rule_id"].to_numpy()[rows].tolist(),
            out["confidence"].to_numpy()[rows].tolist(),
            thresholds[rows].tolist(),
            strict=True,
        ):
            why, thr = view.hold(s, r, c, t)
            if why is not None:
                reasons[i], thresholds[i] = why, np.nan if thr is None else thr
    held = pd.notna(reasons)
    if held.any():
        out["threshold"] = thresholds
        for column, value in (
            ("outcome", "deferred"),
            ("resolution", None),
            ("defer_reason", GUARD_REASON),
        ):
            # an object Series keeps None as None (pandas would infer a string column, with NaN)
            values = out[column].to_numpy(dtype=object, copy=True)
            values[held] = value
            out[column] = pd.Series(values, index=out.index, dtype=object)
    out["guard_reason"] = pd.Series(reasons, dtype=object, index=out.index)
    return out
