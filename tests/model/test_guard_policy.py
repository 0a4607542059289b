"""The guard put to a policy's decisions (model/guard_policy.py): what it watches, that folding a
period's audits at once equals the label-by-label guard, what a verdict changes in a decision,
and the guard's type-I error on the path the replay runs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.domain import load_domain
from autoresolve.model.guard import (
    Stream,
    apply,
    decide,
    new_guard,
    observe_model,
    observe_rule,
)
from autoresolve.model.guard_policy import (
    GuardView,
    apply_verdict,
    certified_floor,
    fold_streams,
    guard_for,
    observe_audits,
)
from autoresolve.model.policy import default_rules
from tests.support import CRM_DIR

CRM = load_domain(CRM_DIR)
TARGET, CONFIDENCE = 0.95, 0.90
GRID = tuple(np.round(np.linspace(0.52, 0.99, 40), 4))
SETTINGS = SimpleNamespace(policy=SimpleNamespace(target_precision=TARGET, confidence=CONFIDENCE))


def _decisions(conf: np.ndarray, source: np.ndarray, rule_id: np.ndarray) -> pd.DataFrame:
    n = len(conf)
    out = pd.DataFrame({c: [None] * n for c in DECISION_COLUMNS})
    out["record_id"] = [f"r{i}" for i in range(n)]
    out["outcome"] = np.where(source == "none", "deferred", "resolved")
    out["source"] = np.where(source == "none", None, source)
    out["rule_id"] = rule_id
    out["resolution"] = np.where(source == "none", None, "merge_duplicate")
    out["confidence"] = conf
    out["threshold"] = np.where(source == "model", 0.5, np.nan)
    return out


def _stream(seed: int, n: int, p_right: float = TARGET):
    rng = np.random.default_rng(seed)
    source = rng.choice(np.array(["model", "rule", "none"], dtype=object), n, p=[0.6, 0.3, 0.1])
    conf = np.where(source == "model", rng.uniform(0.5, 1.0, n), np.nan)
    rule_id = np.where(source == "rule", rng.choice(["a", "b"], n), None)
    return _decisions(conf, source, rule_id), rng.random(n) < p_right


def _guard():
    return new_guard(
        "v1",
        target=TARGET,
        confidence=CONFIDENCE,
        levels=(0.5, 0.7, 0.85),
        rule_targets={"a": 0.95, "b": 0.97},
    )


def test_folding_a_period_at_once_equals_the_label_by_label_guard() -> None:
    dec, right = _stream(1, 600, p_right=0.9)  # drops: alarms and the bets they move
    state = _guard()
    for i in range(len(dec)):
        if dec["source"].iloc[i] == "model":
            state = observe_model(state, float(dec["confidence"].iloc[i]), bool(right[i]))
        elif dec["source"].iloc[i] == "rule":
            state = observe_rule(state, dec["rule_id"].iloc[i], bool(right[i]))
    folded = _guard()
    for a, b in ((0, 250), (250, 251), (251, 600)):  # in pieces, as the replay's blocks
        folded = observe_audits(folded, dec.iloc[a:b], right[a:b])
    assert folded == state
    assert any(s.alarmed for s in state.model) and state.model[0].n > 300


def test_guard_for_a_policy_watches_its_floor_its_grid_and_its_resolving_rules() -> None:
    rules = default_rules(CRM)
    policy = SimpleNamespace(
        version="v7",
        domain=SETTINGS,
        threshold=None,
        class_thresholds=np.array([0.81, np.inf, 0.62]),
        candidate_grid=GRID,
        rules=rules,
    )
    assert certified_floor(policy) == 0.62  # per-class: the guard is a floor on every λ
    g = guard_for(policy)
    assert g.levels[0] == 0.62 and len(g.levels) == 4 and list(g.levels) == sorted(g.levels)
    assert (g.target, g.confidence, g.policy_version) == (TARGET, CONFIDENCE, "v7")
    resolving = {r.id for r in rules.rules if r.then != "defer"}
    assert set(g.rule_targets) == resolving and set(g.rule_targets.values()) == {TARGET}
    assert certified_floor(SimpleNamespace(threshold=0.7)) == 0.7
    assert certified_floor(SimpleNamespace(certificate={"threshold": 0.6})) == 0.6
    nothing = SimpleNamespace(version="v0", domain=SETTINGS, certificate={"threshold": None})
    assert certified_floor(nothing) is None and guard_for(nothing).levels == (1.0,)


def _raised(state, *, suspend: bool = False):
    """`state` with its first model level (every level: `suspend`) and rule `a` in alarm."""
    alarmed = [s.__class__(**{**s.to_dict(), "n": 40, "wrong": 9, "alarmed": True}) for s in
               state.model]  # fmt: skip
    model = tuple(alarmed) if suspend else (alarmed[0], *state.model[1:])
    rules = {**state.rules, "a": state.rules["a"].__class__(n=30, wrong=6, alarmed=True)}
    return state.__class__(**{**state.__dict__, "model": model, "rules": rules})


def test_a_verdict_defers_what_it_holds_and_says_why() -> None:
    conf = np.array([0.6, 0.75, 0.9, np.nan, np.nan, np.nan])
    source = np.array(["model", "model", "model", "rule", "rule", "none"], dtype=object)
    dec = _decisions(conf, source, np.array([None, None, None, "a", "b", None], dtype=object))
    quiet = apply_verdict(dec, GuardView(_guard()))
    assert quiet["guard_reason"].isna().all()  # nothing held: the same decisions
    pd.testing.assert_frame_equal(quiet.drop(columns="guard_reason"), dec)
    view = GuardView(_raised(_guard()))
    assert view.verdict.threshold == 0.7 and view.verdict.quarantined == {"a"}
    out = apply_verdict(dec, view)
    assert out["outcome"].tolist() == ["deferred", "resolved", "resolved", "deferred", "resolved",
                                       "deferred"]  # fmt: skip
    assert out["defer_reason"].tolist()[:5] == ["guard", None, None, "guard", None]
    assert out["resolution"].iloc[0] is None and out["resolution"].iloc[1] == "merge_duplicate"
    # a held decision keeps its source, rule id and confidence: its label still feeds its stream
    assert out["source"].tolist()[:5] == ["model", "model", "model", "rule", "rule"]
    assert out["rule_id"].iloc[3] == "a" and out["confidence"].iloc[0] == 0.6
    assert out["guard_reason"].iloc[0].startswith("threshold raised by the precision guard")
    assert out["guard_reason"].iloc[3].startswith("rule 'a' quarantined")
    assert out["threshold"].tolist()[:3] == [0.7, 0.5, 0.5]  # the raised one where it held
    assert dec["outcome"].iloc[0] == "resolved"  # the certified decisions are untouched
    suspended = _raised(_guard(), suspend=True)
    held = apply_verdict(dec, GuardView(suspended))
    assert decide(suspended).model_suspended
    assert held.loc[held["source"] == "model", "outcome"].eq("deferred").all()
    assert held["guard_reason"].iloc[2].startswith("model resolutions suspended")
    assert apply(suspended, decide(suspended)).applied_level == 3


def test_labels_of_held_decisions_feed_the_stream_that_held_them() -> None:
    conf = np.array([0.6, np.nan, np.nan])
    source = np.array(["model", "rule", "none"], dtype=object)
    dec = _decisions(conf, source, np.array([None, "a", None], dtype=object))
    view = GuardView(_raised(_guard()))
    held = apply_verdict(dec, view)
    assert held["outcome"].tolist() == ["deferred"] * 3
    right = np.array([True, False, True])
    assert observe_audits(view.state, held, right) == observe_audits(view.state, dec, right)
    after = observe_audits(view.state, held, right)
    assert after.model[0].n == view.state.model[0].n + 1 and after.rules["a"].wrong == 7


@pytest.mark.parametrize("alpha", [0.10, 0.05])
def test_false_alarms_on_the_replays_path_stay_under_alpha(alpha) -> None:
    # 2,000 independent streams of 400 audited model decisions at exactly the target at every
    # level (correctness independent of the confidence), fed to the levels as the replay feeds
    # them (fold_streams, the core of observe_audits): the share of streams in which the
    # threshold is ever raised (the certified level ever in alarm) stays ≤ α, and so does that
    # of each stricter level (a raise past it needs its alarm too).
    streams, labels, levels = 2000, 400, np.array([0.5, 0.7, 0.85])
    rng = np.random.default_rng(int(alpha * 1000))
    conf = rng.uniform(0.5, 1.0, (labels, streams))
    right = rng.random((labels, streams)) < TARGET
    reach = (conf[:, :, None] >= levels[None, None, :]).reshape(labels, -1)
    folded = fold_streams(
        tuple(Stream() for _ in range(streams * len(levels))),
        reach,
        np.repeat(right, len(levels), axis=1),
        TARGET,
        alpha,
    )
    ever = np.array([s.alarms > 0 for s in folded]).reshape(streams, len(levels))
    assert (ever.mean(axis=0) <= alpha).all()
    assert ever[:, 0].mean() > 0  # the test can fail: alarms do happen, at most α of them
