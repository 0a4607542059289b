"""Every domain under data/ ships a rule file whose examples hold (both evaluators)."""

from __future__ import annotations

import pytest

from autoresolve.model.domain import load_domain
from autoresolve.rules import load_rules
from tests.support import DATA_DIR

DATA = DATA_DIR
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
