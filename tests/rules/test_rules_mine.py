"""Rules learned from labels: the miner on records where the true rule is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, binom

from autoresolve.rules import parse_rule_layers, parse_rules
from autoresolve.rules.bounds import (
    clopper_pearson_lower,
    min_records_to_clear,
    pass_probability,
    wilson_lower,
)
from autoresolve.rules.learned import render_rules
from autoresolve.rules.mine import MiningConfig, suggest_rules
from tests.support import LEARNABLE_FIELDS as FIELDS
from tests.support import LEARNABLE_RESOLUTIONS as RES
from tests.support import learnable_records

NO_RULES = "rules: []\n"


def _mine(df: pd.DataFrame, rules: str = NO_RULES, **kw):
    existing = parse_rules(rules, FIELDS, RES)
    cfg = kw.pop("config", MiningConfig())
    return suggest_rules(
        df,
        label="resolution",
        fields=FIELDS,
        resolutions=RES,
        existing=existing,
        time="created_at",
        config=cfg,
        **kw,
    )


def _newest(df: pd.DataFrame, share: float = 0.3) -> pd.DataFrame:
    ordered = df.sort_values("created_at", kind="stable")
    return ordered.iloc[len(df) - int(np.ceil(share * len(df))) :]


def test_finds_the_true_rule_and_measures_it_on_newer_labels() -> None:
    df = learnable_records(seed=7)
    result = _mine(df)
    escalate = [s for s in result.suggestions if s.then == "escalate"]
    assert len(escalate) == 1, result.tested
    s = escalate[0]
    assert 'team == "T07"' in s.when and "size >" in s.when
    threshold = float(s.when.split("size >")[1].split()[0])
    assert 150 <= threshold <= 300  # the truth is 200; the miner's cut points are quantiles
    assert s.lower_bound >= 0.95 and s.correct <= s.decided
    # measured on the newest 30% only, and the figures are the rule's own on those records
    held = _newest(df)
    when = held["team"].eq("T07") & (held["size"] > threshold)
    assert s.decided == int(when.sum())
    assert s.correct == int((held.loc[when, "resolution"] == "escalate").sum())
    assert result.measured_on.records == len(held)
    assert result.measured_on.start == held["created_at"].min().isoformat()
    truly = held["resolution"].eq("escalate")
    assert (when & truly).sum() >= 0.8 * truly.sum()  # it covers most of what is true
    assert result.coverage["share_added"] == pytest.approx(s.coverage)


def test_a_path_that_stopped_holding_is_tested_and_not_returned() -> None:
    df = learnable_records(seed=2)
    df = df[~df["resolution"].eq("escalate")]  # leave only the trap (route_b turns into close)
    result = _mine(df)
    assert not [s for s in result.suggestions if s.then == "route_b"]
    trap = [t for t in result.tested if t["then"] == "route_b" and "correct" in t]
    assert trap, "the trap was never tested on the newer labels, so this test proves nothing"
    assert all(t["lower_bound"] < 0.95 and t["outcome"] != "accepted" for t in trap)


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_no_suggestion_below_the_bar_when_recounted_on_newer_labels(seed: int) -> None:
    df = learnable_records(seed=seed)
    cfg = MiningConfig(bar=0.95, confidence=0.9)
    result = _mine(df, config=cfg)
    assert result.suggestions
    held = _newest(df).reset_index(drop=True)
    cands = parse_rules(
        "rules:\n"
        + "".join(
            f"  - {{id: s{i}, when: '{s.when}', then: {s.then}}}\n"
            for i, s in enumerate(result.suggestions)
        ),
        FIELDS,
        RES,
    )
    masks = cands.rule_masks(held)
    for j, s in enumerate(result.suggestions):
        n = int(masks[:, j].sum())
        right = int((held.loc[masks[:, j], "resolution"] == s.then).sum())
        assert (n, right) == (s.decided, s.correct)
        assert clopper_pearson_lower(right, n, 0.9) >= 0.95


def test_examples_are_real_records_and_pass_rules_test_with_the_hand_written_rules() -> None:
    hand = """
rules:
  - id: urgent-note
    when: note == "urgent" and channel == "web"
    then: defer
    examples:
      - {record: {note: urgent, channel: web}, expect: defer}
      - {record: {note: urgent, channel: mail}, expect: null}
"""
    df = learnable_records(seed=7)
    result = _mine(df, hand)
    assert result.suggestions
    items = render_rules(result, result.suggestions, fingerprint="sha256:test", at=None)
    both = parse_rule_layers(
        (("rules.yaml", hand), ("rules.learned.yaml", "rules:\n" + items)), FIELDS, RES
    )
    assert both.run_examples() == []
    rows = df.to_dict("records")
    for s in result.suggestions:
        fire, silent = s.examples
        assert (fire.expect, silent.expect) == (s.then, None)
        for ex in (fire, silent):  # each example is (a part of) one real record
            assert any(
                all(
                    r.get(k) == v or (k == "size" and r.get(k) == float(v))
                    for k, v in ex.record.items()
                )
                for r in rows
            )


def test_records_an_existing_rule_decides_are_not_mined() -> None:
    hand = """
rules:
  - id: big-t07
    when: team == "T07" and size > 150
    then: escalate
"""
    result = _mine(learnable_records(seed=7), hand)
    assert not [s for s in result.suggestions if s.then == "escalate"]
    assert result.coverage["decided_by_existing_rules"] > 0


def test_a_candidate_that_would_fire_on_a_null_example_is_dropped() -> None:
    hand = """
rules:
  - id: t99
    when: team == "T99"
    then: route_a
    examples:
      - {record: {team: T99}, expect: route_a}
      - {record: {team: T07, size: 5000}, expect: null}
"""
    result = _mine(learnable_records(seed=7), hand)
    assert result.dropped_for_examples >= 1
    assert not [s for s in result.suggestions if s.then == "escalate"]


def test_same_data_same_suggestions() -> None:
    df = learnable_records(seed=7)
    a, b = _mine(df).to_dict(), _mine(df.sample(frac=1.0, random_state=3)).to_dict()
    assert a == b  # row order does not matter: records are put in time order first


def test_weights_order_the_suggestions_toward_what_is_deferred() -> None:
    df = learnable_records(seed=7)
    second = df["channel"].eq("mail") & df["team"].isin([f"T0{i}" for i in range(1, 7)])
    df.loc[second, "resolution"] = "route_a"  # a second true rule, disjoint from the first

    def order(weights):
        return [s.then for s in _mine(df, weights=weights).suggestions]

    escalate = df["resolution"].eq("escalate").to_numpy()
    assert order(None) == ["escalate", "route_a"]  # the larger one first
    assert order(np.where(escalate, 0.05, 1.0)) == ["route_a", "escalate"]
    assert order(np.where(escalate, 1.0, 0.05)) == ["escalate", "route_a"]


def test_bad_settings_and_inputs_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"bar=1\.5"):
        MiningConfig(bar=1.5)
    with pytest.raises(ValueError, match="max_conditions=4"):
        MiningConfig(max_conditions=4)
    df = learnable_records(n=200)
    with pytest.raises(ValueError, match="one per row"):
        _mine(df, weights=np.ones(3))
    with pytest.raises(ValueError, match="one per row"):
        _mine(df, weights=-np.ones(len(df)))
    with pytest.raises(ValueError, match="label column 'outcome'"):
        suggest_rules(
            df,
            label="outcome",
            fields=FIELDS,
            resolutions=RES,
            existing=parse_rules(NO_RULES, FIELDS, RES),
        )


def test_too_few_labels_give_no_suggestion_and_say_so() -> None:
    df = learnable_records(n=60)
    df.loc[df.index[:30], "resolution"] = None
    result = _mine(df)
    assert result.suggestions == [] and result.unlabelled == 30


# ------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize("n", [1, 7, 45, 300, 20_000])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.99])
def test_clopper_pearson_matches_scipy(n: int, confidence: float) -> None:
    for k in sorted({0, 1, n // 2, int(0.96 * n), n - 1, n}):
        want = 0.0 if k == 0 else beta.ppf(1 - confidence, k, n - k + 1)
        assert clopper_pearson_lower(k, n, confidence) == pytest.approx(want, abs=1e-10)


def test_pass_probability_and_records_needed() -> None:
    assert min_records_to_clear(0.95, 0.9) == 45  # 0.95**45 < 0.1 <= 0.95**44
    assert clopper_pearson_lower(45, 45, 0.9) >= 0.95 > clopper_pearson_lower(44, 44, 0.9)
    for n, p in [(49, 0.98), (237, 0.98), (100, 0.97)]:
        need = next(c for c in range(n + 1) if clopper_pearson_lower(c, n, 0.9) >= 0.95)
        assert pass_probability(n, p, 0.95, 0.9) == pytest.approx(binom.sf(need - 1, n, p))
    assert pass_probability(44, 1.0, 0.95, 0.9) == 0.0
    lo = wilson_lower(np.array([0, 50, 100]), np.array([0, 100, 100]), 0.9)
    assert lo[0] == 0.0 and 0.43 < lo[1] < 0.5 and 0.98 < lo[2] < 1.0
