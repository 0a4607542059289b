"""The learned-rules file: written beside rules.yaml, loaded after it, never the other way round."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from autoresolve.rules import (
    LEARNED_FILE,
    RuleError,
    load_domain_rules,
    load_rules,
    parse_rule_layers,
)
from autoresolve.rules.learned import render_rules, write_learned
from autoresolve.rules.mine import MiningConfig, suggest_rules
from tests.support import LEARNABLE_FIELDS as FIELDS
from tests.support import LEARNABLE_RESOLUTIONS as RES
from tests.support import learnable_records

HAND = """\
# hand-written: the machine must never touch this file
rules:
  - id: big-t07-phone
    when: team == "T07" and channel == "phone"
    then: route_b
    examples:
      - {record: {team: T07, channel: phone}, expect: route_b}
"""
LEARNED_RULE = """\
  - id: learned-escalate-manual
    when: team == "T07"
    then: escalate
    learned: {at: '2026-01-01T00:00:00Z', precision: {lower_bound: 0.97}}
    examples:
      - {record: {team: T07, channel: web}, expect: escalate}
"""


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(HAND)
    return tmp_path


def _suggestions(domain: Path):
    existing = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    return suggest_rules(
        learnable_records(seed=7),
        label="resolution",
        fields=FIELDS,
        resolutions=RES,
        existing=existing,
        time="created_at",
        config=MiningConfig(),
    )


def test_round_trip_writes_provenance_and_loads_after_the_hand_written_rules(domain: Path):
    hand_before = (domain / "rules.yaml").read_bytes()
    hand_only = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    assert hand_only.version == load_rules(domain / "rules.yaml", FIELDS, RES).version
    result = _suggestions(domain)
    assert result.suggestions
    items = render_rules(
        result, result.suggestions, fingerprint="sha256:abc", at="2026-02-03T04:05:06Z"
    )
    written = write_learned(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES, items)
    assert (domain / "rules.yaml").read_bytes() == hand_before
    loaded = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    assert loaded.version == written.version != hand_only.version
    ids = [r.id for r in loaded.rules]
    assert ids[0] == "big-t07-phone" and ids[1:] == [s.id for s in result.suggestions]
    assert loaded.rules[0].learned is None and loaded.rules[0].source.endswith("rules.yaml")
    for rule, s in zip(loaded.rules[1:], result.suggestions, strict=True):
        assert rule.source.endswith(LEARNED_FILE) and rule.canonical == s.when
        prov = rule.learned
        assert (
            prov["at"] == "2026-02-03T04:05:06Z" and prov["labels"]["fingerprint"] == "sha256:abc"
        )
        assert prov["labels"]["records"] == result.labels.records
        assert prov["labels"]["start"] == result.labels.start
        assert prov["measured_on"]["records"] == result.measured_on.records
        assert prov["precision"]["lower_bound"] == round(s.lower_bound, 4) >= 0.95
        assert prov["precision"]["correct"] == s.correct and prov["precision"]["tests"] >= 1
        assert prov["coverage"]["newer_records"] == round(s.coverage, 4)
    assert loaded.run_examples() == []


def test_a_second_run_appends_and_keeps_what_is_there(domain: Path):
    (domain / LEARNED_FILE).write_text("rules:\n" + LEARNED_RULE)
    result = _suggestions(domain)  # the manual learned rule already decides team T07
    assert all("T07" not in s.when or s.then != "escalate" for s in result.suggestions)
    items = render_rules(result, result.suggestions, at="2026-02-03T04:05:06Z")
    write_learned(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES, items)
    loaded = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    assert [r.id for r in loaded.rules][:2] == ["big-t07-phone", "learned-escalate-manual"]
    assert loaded.rules[1].learned["precision"] == {"lower_bound": 0.97}
    assert len(loaded.rules) == 2 + len(result.suggestions)


def test_hand_written_rules_win_where_both_match(domain: Path):
    (domain / LEARNED_FILE).write_text("rules:\n" + LEARNED_RULE)
    rs = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    recs = [{"team": "T07", "channel": "phone"}, {"team": "T07", "channel": "web"}, {"team": "T01"}]
    assert [getattr(rs.match_record(r), "id", None) for r in recs] == [
        "big-t07-phone",
        "learned-escalate-manual",
        None,
    ]
    assert rs.match_frame(pd.DataFrame(recs)).tolist() == [0, 1, -1]


def test_a_layered_rule_set_pickles_by_its_texts(domain: Path):
    (domain / LEARNED_FILE).write_text("rules:\n" + LEARNED_RULE)
    rs = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    back = pickle.loads(pickle.dumps(rs))
    assert back.version == rs.version and [r.id for r in back] == [r.id for r in rs]
    assert back.rules[1].learned == rs.rules[1].learned
    assert back.match_record({"team": "T07"}).id == "learned-escalate-manual"


@pytest.mark.parametrize(
    ("hand", "learned", "message"),
    [
        (
            HAND.replace("    examples:", "    learned: {at: now}\n    examples:"),
            None,
            "belongs to rules learned from labels",
        ),
        (
            HAND,
            "rules:\n"
            + LEARNED_RULE.replace(
                "    learned: {at: '2026-01-01T00:00:00Z', precision: {lower_bound: 0.97}}\n", ""
            ),
            "missing `learned`",
        ),
        (
            HAND,
            "rules:\n" + LEARNED_RULE.replace("learned-escalate-manual", "big-t07-phone"),
            "already used in",
        ),
        (
            HAND,
            "rules:\n"
            + LEARNED_RULE.replace("    learned: {at:", "    learned: [at:").replace(
                "0.97}}", "0.97}]"
            ),
            "is a mapping",
        ),
    ],
)
def test_refusals_name_the_file_and_what_to_do(domain: Path, hand, learned, message):
    (domain / "rules.yaml").write_text(hand)
    if learned is not None:
        (domain / LEARNED_FILE).write_text(learned)
    with pytest.raises(RuleError, match=message) as err:
        load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    assert (LEARNED_FILE if learned is not None else "rules.yaml") in str(err.value)


def test_nothing_is_written_when_an_example_would_fail(domain: Path):
    (domain / LEARNED_FILE).write_text("rules:\n" + LEARNED_RULE)
    before = (domain / LEARNED_FILE).read_bytes()
    bad = (
        LEARNED_RULE.replace("learned-escalate-manual", "learned-other")
        .replace('team == "T07"', 'channel == "web"')
        .replace("expect: escalate", "expect: close")
    )
    with pytest.raises(RuleError, match="not written"):
        write_learned(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES, bad)
    assert (domain / LEARNED_FILE).read_bytes() == before
    assert not list(domain.glob(".*.tmp"))


def test_layers_parse_without_files():
    rs = parse_rule_layers(
        (("a.yaml", HAND), ("b.yaml", "rules:\n" + LEARNED_RULE)), FIELDS, RES, "a.yaml"
    )
    assert [r.source for r in rs] == ["a.yaml", "b.yaml"]


def test_retiring_removes_a_learned_rule_and_keeps_why(domain: Path):
    import yaml

    from autoresolve.rules.learned import retire_learned, with_learned

    hand_text = (domain / "rules.yaml").read_text()
    write_learned(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES, LEARNED_RULE)
    rs = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    rule = rs.get("learned-escalate-manual")
    after = retire_learned(
        domain / "rules.yaml",
        domain / LEARNED_FILE,
        FIELDS,
        RES,
        [rule],
        {rule.id: "right on 3 of 40 recent labelled records"},
        at="2026-02-01T00:00:00Z",
    )
    assert [r.id for r in after.rules] == ["big-t07-phone"]
    assert (domain / "rules.yaml").read_text() == hand_text  # never touched
    doc = yaml.safe_load((domain / LEARNED_FILE).read_text())
    assert doc["rules"] == []
    (record,) = doc["retired"]
    assert record == {
        "id": "learned-escalate-manual",
        "when": 'team == "T07"',
        "then": "escalate",
        "retired_at": "2026-02-01T00:00:00Z",
        "why": "right on 3 of 40 recent labelled records",
        "learned_at": "2026-01-01T00:00:00Z",
    }
    reloaded = load_domain_rules(domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES)
    assert reloaded.version == load_rules(domain / "rules.yaml", FIELDS, RES).version
    # a later run keeps the record; a hand-written rule is refused
    again, text = with_learned(reloaded, LEARNED_RULE.replace("learned-escalate", "learned-again"))
    assert "learned-again-manual" in [r.id for r in again.rules] and "retired:" in text
    with pytest.raises(RuleError, match="hand-written"):
        retire_learned(
            domain / "rules.yaml", domain / LEARNED_FILE, FIELDS, RES,
            [reloaded.get("big-t07-phone")], {"big-t07-phone": "bad"},
        )  # fmt: skip
    with pytest.raises(RuleError, match="retired"):
        parse_rule_layers((("rules.yaml", HAND + "retired: []\n"),), FIELDS, RES)
