"""Training picks up rules.learned.yaml after rules.yaml (model.train.default_rules)."""

from __future__ import annotations

from pathlib import Path

from autoresolve.model.domain import load_domain
from autoresolve.model.policy import default_rules

DOMAIN = """
name: tiny
id: record_id
label: resolution
resolutions: [route_emea, spam]
fields:
  country: category
"""
HAND = """
rules:
  - {id: fr, when: 'country == "FR"', then: route_emea}
"""
LEARNED = """
rules:
  - id: learned-spam-1
    when: country in ["FR", "XX"]
    then: spam
    learned: {at: '2026-01-01T00:00:00Z'}
"""


def test_default_rules_load_the_learned_file_after_the_hand_written_one(tmp_path: Path):
    (tmp_path / "domain.yaml").write_text(DOMAIN)
    (tmp_path / "rules.yaml").write_text(HAND)
    dom = load_domain(tmp_path)
    assert dom.learned_rules_path == tmp_path.resolve() / "rules.learned.yaml"
    before = default_rules(dom)
    assert [r.id for r in before] == ["fr"]
    (tmp_path / "rules.learned.yaml").write_text(LEARNED)
    after = default_rules(dom)
    assert [r.id for r in after] == ["fr", "learned-spam-1"] and after.version != before.version
    assert after.match_record({"country": "FR"}).id == "fr"
    assert after.match_record({"country": "XX"}).id == "learned-spam-1"
