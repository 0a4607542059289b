"""Every domain under data/ ships a rule file whose examples hold (both evaluators)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.domain import load_domain
from rules import load_rules

DATA = Path(__file__).resolve().parents[1] / "data"
DOMAINS = sorted(p.parent.name for p in DATA.glob("*/rules.yaml"))


def test_there_is_at_least_the_demo_domain() -> None:
    assert "crm" in DOMAINS


@pytest.mark.parametrize("name", DOMAINS)
def test_rule_examples_hold(name: str) -> None:
    domain = load_domain(DATA / name)
    ruleset = load_rules(DATA / name / "rules.yaml", domain.field_types, domain.resolutions)
    failures = ruleset.run_examples()
    assert not failures, "\n".join(
        f"{f.rule_id} example {f.index} (line {f.line}): {f.message}" for f in failures
    )
