"""What a promotion by hand is refused for, and where a rollback returns (model/promotion.py)."""

from __future__ import annotations

from dataclasses import replace

from autoresolve.model.promotion import VersionFacts, promotion_refusals, rollback_target

FIELDS = {"team": "category", "size": "number"}
GOOD = VersionFacts("3", "passed", "", "rules-a", 0.81, "", FIELDS)


def test_a_version_that_fits_is_not_refused() -> None:
    assert promotion_refusals(GOOD, rules_version="rules-a", field_types=FIELDS) == []
    assert promotion_refusals(replace(GOOD, gate=None), rules_version="rules-a",
                              field_types=FIELDS) == []  # fmt: skip


def test_each_reason_is_named() -> None:
    cases = {
        "failed its retrain gates (coverage: below)": replace(
            GOOD, gate="failed", gate_reasons="coverage: below"
        ),
        "holds no threshold (too few records)": replace(
            GOOD, threshold=None, certificate_reason="too few records"
        ),
        "certified with rule set rules-b": replace(GOOD, rules_version="rules-b"),
        "other fields": replace(GOOD, field_types={"team": "category"}),
    }
    for words, facts in cases.items():
        (only,) = promotion_refusals(facts, rules_version="rules-a", field_types=FIELDS)
        assert words in only, only


def test_rollback_returns_to_the_recorded_champion_else_the_last_promoted() -> None:
    tags = {
        "1": {"promoted": "first"},
        "2": {"promoted": "gates passed"},
        "3": {},
        "4": {"promoted": "by hand", "previous_champion": "1"},
    }
    assert rollback_target("4", tags) == "1"
    assert rollback_target("4", {**tags, "4": {"promoted": "old"}}) == "2"
    assert rollback_target("1", tags) is None
