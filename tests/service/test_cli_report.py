"""`autoresolve report` on a small store: the --json shape, the HTML page, the registry's part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import CRM_DIR


def test_report_json_and_html_from_a_store(isolated_home: Path) -> None:
    from autoresolve.model.domain import load_domain
    from autoresolve.service.store import DecisionStore

    dom = load_domain(CRM_DIR)
    store = DecisionStore.from_url(f"sqlite:///{isolated_home / 'autoresolve.db'}")
    store.migrate()
    decisions, records = [], []
    for i in range(30):
        rid = f"C{i}"
        deferred = i % 3 == 0
        decisions.append(
            {
                "record_id": rid,
                "outcome": "deferred" if deferred else "resolved",
                "resolution": None if deferred else "route_smb_queue",
                "source": None if deferred else "model",
                "defer_reason": "low_confidence" if deferred else None,
                "policy_version": "v1",
                "decided_at": f"2025-05-0{1 + i // 10}T09:00:00Z",
            }
        )
        records.append(
            {
                "record_id": rid,
                "error_code": "NO_OWNER_MATCH",
                "lead_source": "webinar" if deferred else "web",
                "country": "DE",
            }
        )
    store.log_decisions(dom, decisions, records)
    store.upsert_labels(dom, [("C1", "route_smb_queue"), ("C2", "nurture_marketing")])
    store.close()
    html = isolated_home / "report.html"
    r = CliRunner().invoke(app, ["report", "--domain", str(CRM_DIR), "--html", str(html), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["queue_depth"] == 10
    assert [a["records"] for a in out["autonomy"]] == [10, 10, 10]
    model = next(p for p in out["precision"] if p["source"] == "model")
    assert model["audited"] == 2 and model["precision"] == 0.5
    assert "unavailable" in json.dumps(out["policy"])  # no registry yet: said, not crashed
    page = html.read_text()
    assert "data:image/png;base64," in page and "http" not in page


def test_report_reads_drift_and_policy_from_the_registry(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry path with MLflow stubbed out: drift against the logged data summary."""
    from autoresolve.model import registry
    from autoresolve.model.domain import load_domain
    from autoresolve.model.drift import summarize
    from autoresolve.model.generators.crm import generate
    from autoresolve.service.store import DecisionStore

    dom = load_domain(CRM_DIR)
    home = isolated_home
    (home / "mlflow.db").touch()  # the report only reads an existing registry
    history = generate(2000, seed=3)
    early, late = history.iloc[:1000], history.iloc[1000:]

    class Champion:
        rules = None

        def describe(self) -> dict:
            return {"version": "crm:7", "threshold": 0.93, "trained_at": "2025-06-01"}

    monkeypatch.setattr(registry, "configure", lambda *a, **k: None)
    monkeypatch.setattr(registry, "load_policy", lambda name, *a: Champion())
    summary = summarize(dom.field_types, early)
    monkeypatch.setattr(registry, "load_artifact_text", lambda name, v, path: json.dumps(summary))
    store = DecisionStore.from_url(f"sqlite:///{home / 'autoresolve.db'}")
    store.migrate()
    late = late.drop(columns=["resolution"]).copy()
    late["created_at"] = late["created_at"].astype(str)
    records = [{k: (None if v != v else v) for k, v in r.items()} for r in late.to_dict("records")]
    decisions = [
        {
            "record_id": r["record_id"],
            "outcome": "deferred",
            "defer_reason": "low_confidence",
            "policy_version": "crm:7",
            "decided_at": "2025-12-01T10:00:00Z",
        }
        for r in records
    ]
    store.log_decisions(dom, decisions, records)
    store.close()
    r = CliRunner().invoke(app, ["report", "--domain", str(CRM_DIR), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["policy"]["version"] == "crm:7"
    fields = {d["field"]: d["psi"] for d in out["drift"]}
    assert set(fields) >= {"lead_source", "error_code", "employees"}
    assert all(v >= 0 for v in fields.values())
    assert out["rule_health"] and {"rule_id", "fires"} <= set(out["rule_health"][0])
    assert out["queue_depth"] == 1000 and out["clusters"]


def test_rule_health_shows_the_records_a_rule_below_its_bar_gets_wrong() -> None:
    from types import SimpleNamespace

    import pandas as pd

    from autoresolve.model.domain import load_domain
    from autoresolve.rules import parse_rules
    from autoresolve.service.deployment import rule_health_frame as _rule_health

    dom = load_domain(CRM_DIR)
    rules = parse_rules(
        'rules:\n  - id: dupes-are-spam\n    when: error_code == "DUPLICATE_SUSPECT"\n'
        "    then: disqualify_spam\n",
        dom.field_types,
        dom.resolutions,
    )
    n = 40
    decisions = pd.DataFrame(
        {
            "record_id": [f"D{i}" for i in range(n)],
            "error_code": "DUPLICATE_SUSPECT",
            "created_at": pd.date_range("2025-05-01", periods=n, freq="h", tz="UTC"),
        }
    )
    labels = pd.DataFrame(
        {"record_id": [f"D{i}" for i in range(n)], dom.label: ["merge_duplicate"] * n}
    )
    table = _rule_health(dom, SimpleNamespace(rules=rules), decisions, labels, None)
    row = table.set_index("rule_id").loc["dupes-are-spam"]
    assert row["status"] == "below_bar"
    assert row["wrong"].startswith("D39 (error_code='DUPLICATE_SUSPECT') was 'merge_duplicate'")
    assert row["wrong"].count(" was ") == 3
