"""`autoresolve simulate` and `autoresolve report` on tiny data: exit codes and the --json shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import CRM_DIR


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("AUTORESOLVE_ENV", "development")
    monkeypatch.delenv("AUTORESOLVE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def _json(out: str) -> dict:
    return json.loads(out)  # stdout must hold only the JSON document


@pytest.mark.slow
def test_simulate_json_shape_from_a_data_file(env: Path) -> None:
    from autoresolve.model.crm_demo import generate

    data = env / "crm.csv"
    generate(3000, seed=5).to_csv(data, index=False)
    plot = env / "curve.png"
    r = CliRunner().invoke(
        app,
        [
            "simulate",
            "--domain",
            str(CRM_DIR),
            "--data",
            str(data),
            "--periods",
            "3",
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = _json(r.stdout)
    assert {"periods", "baselines", "summary"} <= set(out)
    assert [p["period"] for p in out["periods"]] == [1, 2, 3]
    for p in out["periods"][1:]:
        assert {
            "period",
            "records",
            "autonomy",
            "model_precision",
            "rule_precision",
            "deferred",
            "promoted",
        } <= set(p)
        assert 0.0 <= p["autonomy"] <= 1.0
    assert set(out["baselines"]) == {"rules_only", "first_model"}
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert out["new_kinds"] == {}  # a plain file carries no case kinds


@pytest.mark.slow
def test_simulate_table_on_the_generated_demo(env: Path) -> None:
    r = CliRunner().invoke(
        app, ["simulate", "--domain", str(CRM_DIR), "--rows", "2500", "--periods", "2"]
    )
    assert r.exit_code == 0, r.output
    assert "rules only" in r.stdout and "webinar_smb" in r.stdout


def test_simulate_refuses_bad_usage(env: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", "--domain", str(env / "nowhere"), "--json"])
    assert r.exit_code == 2
    r = CliRunner().invoke(
        app, ["simulate", "--domain", str(CRM_DIR), "--split", "weekly", "--rows", "100"]
    )
    assert r.exit_code == 2
    r = CliRunner().invoke(
        app, ["simulate", "--domain", str(CRM_DIR), "--data", str(env / "missing.csv")]
    )
    assert r.exit_code == 1 and "missing.csv" in r.output


def test_report_json_and_html_from_a_store(env: Path) -> None:
    from autoresolve.model.domain import load_domain
    from autoresolve.service.store import DecisionStore

    dom = load_domain(CRM_DIR)
    store = DecisionStore.from_url(f"sqlite:///{env / 'var' / 'autoresolve.db'}")
    (env / "var").mkdir(exist_ok=True)
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
    html = env / "report.html"
    r = CliRunner().invoke(app, ["report", "--domain", str(CRM_DIR), "--html", str(html), "--json"])
    assert r.exit_code == 0, r.output
    out = _json(r.stdout)
    assert out["queue_depth"] == 10
    assert [a["records"] for a in out["autonomy"]] == [10, 10, 10]
    model = next(p for p in out["precision"] if p["source"] == "model")
    assert model["audited"] == 2 and model["precision"] == 0.5
    assert "unavailable" in json.dumps(out["policy"])  # no registry yet: said, not crashed
    page = html.read_text()
    assert "data:image/png;base64," in page and "http" not in page


def test_report_reads_drift_and_policy_from_the_registry(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry path with MLflow stubbed out: drift against the logged data summary."""
    from autoresolve.model import registry
    from autoresolve.model.crm_demo import generate
    from autoresolve.model.domain import load_domain
    from autoresolve.model.drift import summarize
    from autoresolve.service.store import DecisionStore

    dom = load_domain(CRM_DIR)
    home = env / "var"
    home.mkdir(exist_ok=True)
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
    out = _json(r.stdout)
    assert out["policy"]["version"] == "crm:7"
    fields = {d["field"]: d["psi"] for d in out["drift"]}
    assert set(fields) >= {"lead_source", "error_code", "employees"}
    assert all(v >= 0 for v in fields.values())
    assert out["rule_health"] and {"rule_id", "fires"} <= set(out["rule_health"][0])
    assert out["queue_depth"] == 1000 and out["clusters"]
