"""The precision guard (model/guard.py) put to one policy's decisions: what it watches, what it
is fed, and what it changes in a decision.

`model/guard.py` is the statistics on streams of right/wrong outcomes; this module is the glue to
a policy and its decision frames, so that the replay (model/simulate.py) and serving run the guard
the same way:

- `guard_for(policy)`: a fresh guard for a served policy version — the model watched at its
  certified λ (the lowest class λ when each class has its own: the guard then acts as a floor on
  every class's λ) and at stricter candidates of its certificate's grid; every resolving rule
  against its bar (the domain's target, a learned rule's own bar when higher).
- `observe_audits(state, decisions, correct)`: audited decisions of the *certified* policy (what
  it would have decided without the guard, so labels for the levels below the one in effect keep
  arriving and recovery stays possible), folded in decision order.
- `guarded(decisions, verdict)`: the decisions with the verdict in effect — model resolutions
  below the raised threshold (all of them, when suspended) and those of quarantined rules become
  deferrals with reason `guard`.

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.guard import (
    GuardState,
    Stream,
    Verdict,
    guard_levels,
    new_guard,
    step_arrays,
)
from autoresolve.model.rule_health import rule_bar

GUARD_REASON = "guard"


def certified_floor(policy: Any) -> float | None:
    """The policy's certified λ: the global one, or the lowest of its classes' (None: the model
    resolves nothing)."""
    by_class = getattr(policy, "class_thresholds", None)
    if by_class is None:
        t = (getattr(policy, "certificate", None) or {}).get("threshold")
        by_class = [] if t is None else [t]
    finite = [float(t) for t in np.asarray(by_class, dtype=np.float64) if np.isfinite(t)]
    return min(finite) if finite else None


def rule_targets(policy: Any, target: float) -> dict[str, float]:
    """Each resolving rule of the policy's rule set with its bar."""
    rules = getattr(getattr(policy, "rules", None), "rules", None) or ()
    return {r.id: rule_bar(r, target) for r in rules if r.then != "defer"}


def guard_for(policy: Any, target: float, confidence: float) -> GuardState:
    """A fresh guard for `policy` (no evidence yet). A policy that resolves nothing gets one
    level at 1.0 that no audited model decision reaches (there are none)."""
    floor = certified_floor(policy)
    grid = tuple(getattr(policy, "candidate_grid", ()) or ())
    levels = guard_levels(floor, grid) if floor is not None else (1.0,)
    return new_guard(
        str(getattr(policy, "version", "")),
        target=target,
        confidence=confidence,
        levels=levels,
        rule_targets=rule_targets(policy, target),
    )


def observe_audits(state: GuardState, decisions: pd.DataFrame, correct: np.ndarray) -> GuardState:
    """`state` after the audited `decisions` (the certified policy's, in decision order) and
    whether each was right. Deferrals and rules the guard does not watch are skipped.

    The same as `observe_model` / `observe_rule` label by label (tests/model/test_guard_policy.py
    holds them equal), with every stream's state kept in arrays between labels: each stream
    sees its own labels in decision order, which is all its bets depend on."""
    outcome = decisions["outcome"].to_numpy()
    source = decisions["source"].to_numpy()
    right = np.asarray(correct, dtype=bool)
    by_model = (outcome == "resolved") & (source == "model")
    conf = decisions["confidence"].to_numpy(dtype=np.float64)[by_model]
    reach = conf[:, None] >= np.asarray(state.levels)[None, :]
    model = fold_streams(state.model, reach, right[by_model], state.target, state.alpha)
    by_rule = (outcome == "resolved") & (source == "rule")
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


def held_by(decisions: pd.DataFrame, verdict: Verdict) -> np.ndarray:
    """Which automatic decisions the verdict turns into deferrals."""
    resolved = decisions["outcome"].to_numpy() == "resolved"
    source = decisions["source"].to_numpy()
    model = resolved & (source == "model")
    if not verdict.model_suspended:
        conf = decisions["confidence"].to_numpy(dtype=np.float64)
        model &= conf < float(verdict.threshold)
    rules = resolved & (source == "rule")
    rules &= decisions["rule_id"].isin(list(verdict.quarantined)).to_numpy()
    return model | rules


def guarded(decisions: pd.DataFrame, verdict: Verdict) -> pd.DataFrame:
    """The decisions as served with `verdict` in effect (a copy; unchanged rows are identical).
    A held rule decision keeps its rule id, so it says which rule is quarantined."""
    held = held_by(decisions, verdict)
    if not held.any():
        return decisions
    out = decisions.copy()
    is_model = decisions["source"].to_numpy() == "model"

    def put(column: str, rows: np.ndarray, value: Any) -> None:
        # an object Series keeps None as None (pandas would infer a string column, with NaN)
        values = np.where(rows, value, decisions[column].to_numpy(dtype=object))
        out[column] = pd.Series(values, index=out.index, dtype=object)

    put("outcome", held, "deferred")
    put("resolution", held, None)
    put("defer_reason", held, GUARD_REASON)
    put("source", held & is_model, None)
    if verdict.threshold is not None:
        thr = decisions["threshold"].to_numpy(dtype=np.float64)
        out["threshold"] = np.where(is_model, np.fmax(thr, verdict.threshold), thr)
    return out
