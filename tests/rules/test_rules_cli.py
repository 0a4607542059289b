"""`autoresolve rules test | lint | explain`: exit codes, JSON on stdout, clean refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app

DOMAIN = """
name: tiny
id: record_id
label: resolution
data: records.csv
resolutions: [route_emea, spam]
fields:
  country: category
  employees: number
  notes: text
"""
RULES = """
rules:
  - id: emea
    when: country in ["FR", "DE"]
    then: route_emea
    examples:
      - {record: {country: FR}, expect: route_emea}
      - {record: {country: US}, expect: null}
  - id: casino
    when: contains(lower(notes), "casino")
    then: spam
    examples:
      - {record: {notes: Best CASINO}, expect: spam}
"""


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "domain.yaml").write_text(DOMAIN)
    (d / "rules.yaml").write_text(RULES)
    pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(6)],
            "country": ["FR", "DE", "US", None, "FR", "US"],
            "employees": [1, 2, 3, 4, 5, 6],
            "notes": [None, "casino", "casino", None, None, "hi"],
            "resolution": ["route_emea", "route_emea", "spam", "spam", "spam", "spam"],
        }
    ).to_csv(d / "records.csv", index=False)
    return d


runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["rules", *args])


def test_rules_test_ok_and_json(domain: Path) -> None:
    res = _run("test", "--domain", str(domain), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["examples"] == 3 and doc["failures"] == []


def test_rules_test_fails_with_exit_1(domain: Path) -> None:
    (domain / "rules.yaml").write_text(RULES.replace("expect: spam", "expect: route_emea"))
    res = _run("test", "--domain", str(domain), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["failures"][0]["rule_id"] == "casino"


def test_broken_rule_file_is_refused_with_location(domain: Path) -> None:
    (domain / "rules.yaml").write_text(RULES.replace("country in", "countri in"))
    res = _run("test", "--domain", str(domain))
    assert res.exit_code == 1
    assert "rules.yaml:4:" in res.stderr and "Did you mean 'country'" in res.stderr
    assert "Traceback" not in res.output


def test_lint_json_with_labels(domain: Path) -> None:
    res = _run("lint", "--domain", str(domain), "--json", "--data", str(domain / "records.csv"))
    doc = json.loads(res.stdout)
    rules = {r["rule_id"]: r for r in doc["rules"]}
    assert rules["emea"]["fires"] == 3 and rules["emea"]["correct"] == 2
    assert rules["emea"]["status"] == "below_bar"
    assert res.exit_code == 1  # a rule below the precision bar fails the lint


def test_lint_default_data_is_the_domains(domain: Path) -> None:
    res = _run("lint", "--domain", str(domain), "--precision-bar", "0.2")
    assert res.exit_code == 0, res.output
    assert "emea" in res.stderr


def test_explain_record_and_file(domain: Path, tmp_path: Path) -> None:
    res = _run(
        "explain", "--domain", str(domain), "--record", '{"country": "FR", "x": 1}', "--json"
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rule_id"] == "emea" and doc["ignored_keys"] == ["x"]
    assert [t["fired"] for t in doc["trace"]] == [True, False]
    f = tmp_path / "rec.json"
    f.write_text('{"notes": "casino night"}')
    res = _run("explain", "--domain", str(domain), "--record", f"@{f}")
    assert res.exit_code == 0 and "rule 'casino' decides: spam" in res.stderr


def test_explain_bad_json_is_usage_error(domain: Path) -> None:
    res = _run("explain", "--domain", str(domain), "--record", "{not json")
    assert res.exit_code == 2 and "not valid JSON" in res.stderr
