"""`autoresolve rules suggest`: YAML to review, JSON, --apply into rules.learned.yaml, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import LEARNABLE_RESOLUTIONS, learnable_records

DOMAIN = f"""
name: learnable
id: record_id
label: resolution
time: created_at
data: records.csv
resolutions: {list(LEARNABLE_RESOLUTIONS)}
fields:
  team: category
  size: number
  vip: boolean
  channel: category
  note: text
policy:
  target_precision: 0.95
  confidence: 0.90
"""
RULES = """\
rules:
  - id: urgent-web
    when: note == "urgent" and channel == "web"
    then: defer
    examples:
      - {record: {note: urgent, channel: web}, expect: defer}
      - {record: {note: urgent, channel: mail}, expect: null}
"""

runner = CliRunner()


@pytest.fixture
def domain(tmp_path: Path, isolated_home: Path) -> Path:
    d = tmp_path / "learnable"
    d.mkdir()
    (d / "domain.yaml").write_text(DOMAIN)
    (d / "rules.yaml").write_text(RULES)
    learnable_records(seed=7).to_csv(d / "records.csv", index=False)
    return d


def _run(*args: str):
    return runner.invoke(app, ["rules", *args])


def test_json_lists_the_suggestions_with_bound_coverage_and_sources(domain: Path):
    res = _run("suggest", "--domain", str(domain), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (s,) = [s for s in doc["suggestions"] if s["then"] == "escalate"]
    assert 'team == "T07"' in s["when"] and s["lower_bound"] >= 0.95
    assert doc["config"]["bar"] == 0.95 and doc["config"]["confidence"] == 0.9
    assert doc["sources"]["data_file_labelled"] == 10_000 and doc["sources"]["store_labels"] == 0
    assert doc["sources"]["deferred_today"].endswith("no model (all deferred)")
    assert doc["coverage"]["share_added"] > 0 and doc["applied"] is None
    assert yaml.safe_load("rules:\n" + doc["yaml"])["rules"][0]["id"] == doc["suggestions"][0]["id"]
    assert not (domain / "rules.learned.yaml").exists()


def test_text_mode_prints_reviewable_yaml_on_stdout(domain: Path):
    res = _run("suggest", "--domain", str(domain), "--max-rules", "1")
    assert res.exit_code == 0, res.output
    doc = yaml.safe_load(res.stdout)
    (rule,) = doc["rules"]
    assert rule["then"] == "escalate" and rule["learned"]["precision"]["lower_bound"] >= 0.95
    assert "at" not in rule["learned"]  # a preview: nothing was learned yet
    assert len(rule["examples"]) == 2 and "cleared 95%" in res.stderr


def test_apply_writes_the_learned_file_and_rules_test_covers_both(domain: Path):
    hand = (domain / "rules.yaml").read_bytes()
    res = _run("suggest", "--domain", str(domain), "--apply", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["applied"]["added"] == len(doc["suggestions"]) >= 1
    assert (domain / "rules.yaml").read_bytes() == hand
    learned = yaml.safe_load((domain / "rules.learned.yaml").read_text())
    assert [r["id"] for r in learned["rules"]] == [s["id"] for s in doc["suggestions"]]
    assert learned["rules"][0]["learned"]["at"].endswith("Z")
    assert learned["rules"][0]["learned"]["labels"]["fingerprint"].startswith("sha256:")
    tested = json.loads(_run("test", "--domain", str(domain), "--json").stdout)
    assert tested["ok"] and tested["rules"] == 1 + len(doc["suggestions"])
    assert tested["examples"] == 2 + 2 * len(doc["suggestions"])
    lint = _run("lint", "--domain", str(domain), "--json")
    assert lint.exit_code == 0, lint.output
    assert {r["rule_id"] for r in json.loads(lint.stdout)["rules"]} >= set(learned_ids(domain))
    again = json.loads(_run("suggest", "--domain", str(domain), "--json").stdout)
    assert not [s for s in again["suggestions"] if s["then"] == "escalate"]  # already decided


def learned_ids(domain: Path) -> list[str]:
    return [r["id"] for r in yaml.safe_load((domain / "rules.learned.yaml").read_text())["rules"]]


def test_a_broken_learned_file_is_refused_by_every_rules_command(domain: Path):
    (domain / "rules.learned.yaml").write_text("rules:\n  - {id: x, when: team ==, then: close}\n")
    for cmd in ("test", "suggest"):
        res = _run(cmd, "--domain", str(domain))
        assert res.exit_code == 1 and "rules.learned.yaml" in res.stderr, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--apply", "--min-precision", "0.8"), "writes only rules that clear"),
        (("--min-precision", "1.5"), "must be in (0, 1]"),
    ],
)
def test_usage_errors_exit_2(domain: Path, args, message):
    res = _run("suggest", "--domain", str(domain), *args)
    assert res.exit_code == 2 and message in res.stderr
    assert not (domain / "rules.learned.yaml").exists()


def test_no_labels_is_refused_with_what_to_do(domain: Path):
    df = learnable_records(n=50).assign(resolution=None)
    df.to_csv(domain / "records.csv", index=False)
    res = _run("suggest", "--domain", str(domain))
    assert res.exit_code == 1 and "no labelled records" in res.stderr
    (domain / "records.csv").unlink()  # and no store either
    res = _run("suggest", "--domain", str(domain))
    assert res.exit_code == 1 and "no data file at" in res.stderr
    assert "no labelled records" in res.stderr


def test_store_labels_join_the_history_and_weigh_by_todays_decision(domain: Path, isolated_home):
    from autoresolve.model.decision import Decision
    from autoresolve.service.store import DecisionStore

    df = learnable_records(seed=7)
    newest = df.iloc[-3_000:]
    df.loc[df.index[-3_000:], "resolution"] = None  # these labels exist only in the store
    df.to_csv(domain / "records.csv", index=False)
    store = DecisionStore.from_url(f"sqlite:///{isolated_home / 'autoresolve.db'}")
    store.migrate()
    recs = [
        {k: (None if v != v else v) for k, v in r.items() if k != "resolution"}
        | {"created_at": str(r["created_at"])}
        for r in newest.to_dict("records")
    ]
    resolved = [i % 2 == 0 for i in range(len(recs))]
    decs = [
        Decision(
            r["record_id"],
            "resolved" if m else "deferred",
            "close" if m else None,
            "model" if m else None,
            None,
            0.9,
            0.8,
            None if m else "low_confidence",
            (),
            "learnable:1",
            "2026-01-01T00:00:00.000Z",
        )
        for r, m in zip(recs, resolved, strict=True)
    ]
    store.log_decisions("learnable", decs, recs)
    store.upsert_labels(
        "learnable", list(zip(newest["record_id"], newest["resolution"], strict=True))
    )
    store.close()
    res = _run("suggest", "--domain", str(domain), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["sources"]["store_labels"] == 3_000
    assert doc["sources"]["model_resolved"] == 1_500
    assert doc["labels"]["records"] == 10_000
    assert [s for s in doc["suggestions"] if s["then"] == "escalate"]
