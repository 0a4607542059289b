"""Serving adds an audit sample and the guard's verdict to the certified policy's decisions:
the share is respected and deterministic, a guarded decision defers with reason `guard` and says
why, and the record and table paths agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.audit import audit_mask, is_audited
from autoresolve.model.decision import SERVED_COLUMNS
from autoresolve.model.guard import apply, decide, observe_model, observe_rule
from autoresolve.model.guard_policy import GuardView, apply_verdict, guard_for, observe_labelled
from autoresolve.model.serving import ServedPolicy
from autoresolve.model.train import train_policy
from tests.model.test_model_policy import NOW, _ruleset, json_record, make_synth


@pytest.mark.parametrize("share", [0.01, 0.03, 0.2])
def test_audit_share_is_respected(share: float) -> None:
    ids = [f"rec-{i}" for i in range(40_000)]
    got = audit_mask(ids, share, seed=0).mean()
    sd = np.sqrt(share * (1 - share) / len(ids))
    assert abs(got - share) <= 4 * sd


def test_audit_is_deterministic_and_seeded() -> None:
    ids = [f"rec-{i}" for i in range(5_000)]
    a = audit_mask(ids, 0.05, seed=1)
    assert (a == audit_mask(ids, 0.05, seed=1)).all()
    assert [is_audited(r, 0.05, 1) for r in ids] == a.tolist()
    assert (a != audit_mask(ids, 0.05, seed=2)).any()


def test_audit_is_never_zero_unless_set() -> None:
    ids = [f"rec-{i}" for i in range(1_000)]
    assert audit_mask(ids, 0.03, seed=0).any()
    assert not audit_mask(ids, 0.0, seed=0).any()
    assert audit_mask(ids, 1.0, seed=0).all()
    with pytest.raises(ValueError, match="audit share"):
        ServedPolicy(object(), None, audit_share=1.5)


@pytest.fixture(scope="module")
def served_parts():
    domain, df = make_synth()
    policy, _ = train_policy(domain, df, seed=0)
    policy = policy.with_rules(_ruleset(domain), df.iloc[1500:])
    return domain, df, policy


def _alarmed(policy, *, levels: int, rule: str | None = None):
    """A guard whose first `levels` model levels (and `rule`) saw only wrong audited answers
    until they alarmed."""
    state = guard_for(policy)
    for _ in range(500):
        if all(s.alarmed for s in state.model[:levels]):
            break
        state = observe_model(state, state.levels[levels - 1], False)
    while rule is not None and not state.rules[rule].alarmed:
        state = observe_rule(state, rule, False)
    return apply(state, decide(state))


def test_guard_defers_with_a_reason_and_both_paths_agree(served_parts) -> None:
    _, df, policy = served_parts
    rule = next(r.id for r in policy.rules.rules if r.then != "defer")
    state = _alarmed(policy, levels=1, rule=rule)
    view = GuardView(state, seq=3)
    assert view.floor is not None and view.floor > state.levels[0]
    served = ServedPolicy(policy, view, audit_share=0.5, audit_seed=7)
    plain = policy.decide_frame(df.head(600), now=NOW)
    frame = served.decide_frame(df.head(600), now=NOW)
    guarded = frame["defer_reason"] == "guard"
    assert guarded.any()
    by_rule = guarded & (frame["rule_id"] == rule)
    by_model = guarded & (frame["source"] == "model")
    assert by_rule.sum() == ((plain["rule_id"] == rule) & (plain["outcome"] == "resolved")).sum()
    assert frame.loc[by_rule, "guard_reason"].str.contains(f"rule '{rule}' quarantined").all()
    lifted = (plain["source"] == "model") & (plain["confidence"] < view.floor)
    assert by_model.sum() == (lifted & (plain["outcome"] == "resolved")).sum()
    assert frame.loc[by_model, "guard_reason"].str.contains("threshold raised").all()
    assert (frame.loc[by_model, "threshold"] == view.floor).all()
    # audits: only what the certified policy resolves, guarded or not
    assert not frame.loc[plain["outcome"] != "resolved", "audit"].any()
    assert frame.loc[plain["outcome"] == "resolved", "audit"].any()
    records = [json_record(r) for _, r in df.head(600).iterrows()]
    one = pd.DataFrame([d.to_dict() for d in served.decide_records(records, now=NOW)])
    for col in ("outcome", "defer_reason", "audit", "guard_reason", "rule_id", "source"):
        assert one[col].fillna("-").tolist() == frame[col].fillna("-").tolist(), col


@pytest.mark.parametrize("suspended", [False, True])
def test_the_replay_applies_the_verdict_exactly_as_serving(served_parts, suspended) -> None:
    # The replay (model/simulate.py) decides with the certified policy and applies the verdict
    # in blocks with `apply_verdict`; serving, by frame and by record, must hold the same.
    _, df, policy = served_parts
    rule = next(r.id for r in policy.rules.rules if r.then != "defer")
    levels = len(guard_for(policy).levels) if suspended else 1
    view = GuardView(_alarmed(policy, levels=levels, rule=rule))
    served = ServedPolicy(policy, view, audit_share=0.0)
    frame = served.decide_frame(df.head(600), now=NOW)
    plain = policy.decide_frame(df.head(600), now=NOW)
    blocks = [apply_verdict(plain.iloc[a:b], view) for a, b in ((0, 250), (250, 251), (251, 600))]
    replay = pd.concat(blocks).reset_index(drop=True)
    cols = [c for c in SERVED_COLUMNS if c != "audit"]
    assert (replay["defer_reason"] == "guard").sum() > 0
    pd.testing.assert_frame_equal(replay[cols], frame[cols].reset_index(drop=True))
    records = [json_record(r) for _, r in df.head(600).iterrows()]
    one = pd.DataFrame([d.to_dict() for d in served.decide_records(records, now=NOW)])
    for col in ("outcome", "resolution", "source", "rule_id", "defer_reason", "guard_reason"):
        assert one[col].fillna("-").tolist() == replay[col].fillna("-").tolist(), col
    assert np.allclose(one["threshold"].astype(float), replay["threshold"], equal_nan=True)


def test_suspended_model_defers_every_model_resolution(served_parts) -> None:
    _, df, policy = served_parts
    state = _alarmed(policy, levels=len(guard_for(policy).levels))
    served = ServedPolicy(policy, GuardView(state), audit_share=0.0)
    frame = served.decide_frame(df.head(400), now=NOW)
    assert not ((frame["source"] == "model") & (frame["outcome"] == "resolved")).any()
    assert (
        frame.loc[frame["defer_reason"] == "guard", "guard_reason"].str.contains("suspended").all()
    )
    assert not frame["audit"].any()


def test_labels_of_audited_decisions_feed_the_guard_of_their_version(served_parts) -> None:
    _, _, policy = served_parts
    state = guard_for(policy)
    rule = next(r for r in policy.rules.rules if r.then != "defer")
    thens = {rule.id: rule.then}
    base = {"policy_version": state.policy_version, "audit": True, "confidence": None}
    ruled = base | {"source": "rule", "rule_id": rule.id, "candidates": []}
    assert observe_labelled(state, ruled, rule.then, thens).rules[rule.id].n == 1
    assert observe_labelled(state, ruled | {"audit": False}, rule.then, thens) is state
    assert observe_labelled(state, ruled | {"policy_version": "other"}, "x", thens) is state
    model = base | {"source": "model", "rule_id": None, "confidence": 0.999}
    model["candidates"] = [{"resolution": "a", "probability": 0.999}]
    after = observe_labelled(state, model, "b", thens)
    assert after.model[0].n == 1 and after.model[0].wrong == 1
