"""Issue 14: the cost of one request is bounded (per-endpoint body limits, a cap on unknown keys
and errors before full validation, a deadline on reading the body, a connection limit)."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from autoresolve.service.app import create_app
from autoresolve.service.errors import BodyLimitMiddleware
from tests.service.test_service_app import FakeSource, make_settings


def test_one_record_endpoints_take_a_record_sized_body(tmp_path):
    with TestClient(create_app(make_settings(tmp_path), policy_source=FakeSource())) as c:
        body = {"record_id": "x", "notes": "y" * 70_000}  # under the batch limit, over a record's
        r = c.post("/v1/resolve", json=body)
        assert r.status_code == 413 and "AUTORESOLVE_MAX_RECORD_BYTES" in r.json()["detail"]
        assert c.post("/v1/ping", json=body).status_code == 413


def test_many_unknown_keys_make_one_error_not_one_per_key(tmp_path):
    with TestClient(create_app(make_settings(tmp_path), policy_source=FakeSource())) as c:
        record = {"record_id": "x"} | {f"k{i}": 1 for i in range(3_000)}
        r = c.post("/v1/resolve", json=record)
        assert r.status_code == 422
        body = r.json()
        assert len(body["errors"]) == 1 and "3,001 keys" in body["detail"]
        batch = {"records": [record] + [{"record_id": str(i), "zz": 1} for i in range(50)]}
        r = c.post("/v1/resolve/batch", json=batch)
        assert r.status_code == 422 and len(r.json()["errors"]) == 1
        assert "records.0.k0" in r.json()["detail"]
        labels = {"labels": [{"record_id": "a", "resolution": "merge_duplicate"} | record]}
        r = c.post("/v1/labels", json=labels, headers={"X-API-Key": "k" * 24})
        assert r.status_code == 422 and len(r.json()["errors"]) == 1
        # a few misspelt names still get their own error with a suggestion
        r = c.post("/v1/resolve", json={"record_id": "x", "contry": "DE"})
        assert "Did you mean 'country'" in r.json()["detail"]


def test_a_body_not_received_in_time_is_408():
    """A client that sends its headers and then trickles (here: nothing) is cut off."""
    sent: list[dict] = []
    read_started = asyncio.Event()

    async def app(scope, receive, send):
        read_started.set()
        while True:  # reads the body like Starlette does
            msg = await receive()
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def never():  # the client never sends the rest
        await asyncio.Event().wait()

    async def capture(msg):
        sent.append(msg)

    scope = {
        "type": "http",
        "path": "/v1/resolve",
        "method": "POST",
        "headers": [(b"content-length", b"100")],
    }
    mw = BodyLimitMiddleware(app, max_bytes=1_000, body_timeout_s=0.2)
    asyncio.run(asyncio.wait_for(mw(scope, never, capture), timeout=30))
    assert read_started.is_set()
    assert sent[0]["status"] == 408
    assert b"AUTORESOLVE_BODY_TIMEOUT_S" in sent[1]["body"]


def test_a_body_received_in_time_is_answered_normally():
    sent: list[dict] = []

    async def app(scope, receive, send):
        await receive()
        await asyncio.sleep(0.3)  # longer than the deadline, after the body is in
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def whole():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def capture(msg):
        sent.append(msg)

    scope = {"type": "http", "path": "/x", "method": "POST", "headers": [(b"content-length", b"2")]}
    asyncio.run(
        BodyLimitMiddleware(app, max_bytes=1_000, body_timeout_s=0.1)(scope, whole, capture)
    )
    assert sent[0]["status"] == 200


def test_serve_limits_connections(monkeypatch, tmp_path):
    import uvicorn

    from autoresolve.service.cli_serve import register  # noqa: F401 (the command under test)

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setenv("AUTORESOLVE_ENV", "development")
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path))
    monkeypatch.setenv("AUTORESOLVE_MAX_CONNECTIONS", "123")
    monkeypatch.delenv("AUTORESOLVE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    from typer.testing import CliRunner

    from autoresolve.service.cli import app
    from tests.support import CRM_DIR

    result = CliRunner().invoke(app, ["serve", "--domain", str(CRM_DIR)])
    assert result.exit_code == 0, result.output
    assert seen["limit_concurrency"] == 123
