"""Issue 14: what a caller without a key may read of /v1/policy, and strict record types."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from autoresolve.service.app import create_app
from tests.service.test_service_app import KEY, FakePolicy, FakeSource, make_settings


class Described(FakePolicy):
    def describe(self) -> dict:
        return super().describe() | {
            "fingerprint": {"sha256": "f" * 64, "time_start": "2025-01-01"},
            "estimator": {"kind": "lightgbm"},
        }


@pytest.fixture
def client(tmp_path):
    source = FakeSource({"1": Described("1"), "2": FakePolicy("2", broken=True)})
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        source.champion = "2"
        c.post("/v1/admin/reload", headers={"X-API-Key": KEY})  # refused: a message in the log
        yield c


def test_policy_without_a_key_shows_only_what_a_caller_needs(client):
    body = client.get("/v1/policy").json()
    assert body["policy"]["version"] == "1" and body["policy"]["thresholds"]
    assert "fingerprint" not in body["policy"] and "estimator" not in body["policy"]
    assert "refused" not in body["reload"] and "last_result" not in body["reload"]
    full = client.get("/v1/policy", headers={"X-API-Key": KEY}).json()
    assert full["policy"]["fingerprint"]["sha256"] == "f" * 64
    assert "model artifact is corrupt" in full["reload"]["refused"]["2"]
    assert client.get("/v1/policy", headers={"X-API-Key": "x" * 20}).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [("employees", False), ("page_views", True), ("created_at", "0"), ("created_at", True)],
)
def test_records_refuse_lax_coercions(client, field, value):
    r = client.post("/v1/resolve", json={"record_id": "x", field: value})
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_records_keep_numbers_and_iso_datetimes(client):
    ok = {"record_id": "x", "employees": 12, "created_at": "2026-01-31T12:00:00Z"}
    assert client.post("/v1/resolve", json=ok).status_code == 200
    assert client.post("/v1/resolve", json=ok | {"created_at": 1767225600}).status_code == 200
