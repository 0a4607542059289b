"""`autoresolve report` on every domain of data/, including those whose id is not `record_id`,
run as a read-only command without API keys; and what it says when nothing was ever logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoresolve.model.domain import Domain, load_domain
from autoresolve.service.cli import app
from tests.support import DATA_DIR

DOMAINS = sorted(p for p in DATA_DIR.iterdir() if (p / "domain.yaml").is_file())


def _value(kind: str, i: int):
    return {
        "category": f"v{i % 3}",
        "number": float(i % 7),
        "boolean": i % 2 == 0,
        "text": f"note {i % 4}",
        "datetime": f"2025-05-0{1 + i % 9}T09:00:00Z",
    }[kind]


def _log(dom: Domain, url: str, n: int = 30) -> None:
    from autoresolve.service.store import DecisionStore

    store = DecisionStore.from_url(url)
    store.migrate()
    decisions, records = [], []
    first, second = dom.resolutions[0], dom.resolutions[1]
    for i in range(n):
        rid = f"R{i}"
        deferred = i % 3 == 0
        decisions.append(
            {
                "record_id": rid,
                "outcome": "deferred" if deferred else "resolved",
                "resolution": None if deferred else first,
                "source": None if deferred else "model",
                "defer_reason": "low_confidence" if deferred else None,
                "policy_version": f"{dom.name}:1",
                "decided_at": f"2025-05-0{1 + i // 10}T09:00:00Z",
            }
        )
        records.append({dom.id: rid} | {f: _value(t, i) for f, t in dom.field_types.items()})
    store.log_decisions(dom, decisions, records)
    store.upsert_labels(dom, [("R0", second), ("R1", first), ("R2", second)])
    store.close()


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AUTORESOLVE_ENV (production) and no API keys: fine for a command that serves nothing."""
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path))
    for var in (
        "AUTORESOLVE_ENV",
        "AUTORESOLVE_API_KEYS",
        "MLFLOW_TRACKING_URI",
        "AUTORESOLVE_DATABASE_URL",
        "AUTORESOLVE_MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.mark.parametrize("domain_dir", DOMAINS, ids=[p.name for p in DOMAINS])
def test_report_on_every_domain(domain_dir: Path, production: Path) -> None:
    dom = load_domain(domain_dir)
    _log(dom, f"sqlite:///{production / 'autoresolve.db'}")
    r = CliRunner().invoke(app, ["report", "--domain", str(domain_dir), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [a["records"] for a in out["autonomy"]] == [10, 10, 10]
    assert out["queue_depth"] == 9  # R0 is deferred but labelled: it left the queue
    model = next(p for p in out["precision"] if p["source"] == "model")
    assert model["audited"] == 2 and model["precision"] == 0.5


def test_report_before_any_decision_says_so(production: Path) -> None:
    domain_dir = DOMAINS[0]
    r = CliRunner().invoke(app, ["report", "--domain", str(domain_dir)])
    assert r.exit_code == 1
    text = " ".join(r.output.split())
    assert "no decisions" in text and "autoresolve resolve" in text, text
    assert "retry later" not in text and "Traceback" not in text
