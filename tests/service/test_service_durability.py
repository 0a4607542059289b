"""Issue 14: answers stop being 200 when nothing durable happens, and /readyz says why.

The store's file deleted or replaced while serving, commits failing, a commit that never
returns: each makes resolve answer 503 with Retry-After within the commit deadline, and /readyz
not ready, until the store can make decisions durable again.
"""

from __future__ import annotations

import shutil
import threading

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from autoresolve.service.app import create_app
from tests.service.test_service_app import FakeSource, make_settings


def _client(tmp_path, **kw) -> TestClient:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'var' / 'store.db'}")
    settings = settings.model_copy(update=kw)
    return TestClient(create_app(settings, policy_source=FakeSource()))


def test_state_folder_deleted_while_serving_is_503_and_not_ready(tmp_path):
    with _client(tmp_path) as c:
        assert c.post("/v1/resolve", json={"record_id": "before"}).status_code == 200
        assert c.get("/readyz").status_code == 200
        shutil.rmtree(tmp_path / "var")
        r = c.post("/v1/resolve", json={"record_id": "after", "country": "DE"})
        assert r.status_code == 503 and "gone" in r.json()["detail"], r.text
        assert r.headers["retry-after"]
        r = c.post("/v1/resolve/batch", json={"records": [{"record_id": "b"}]})
        assert r.status_code == 503
        lab = {"record_id": "before", "resolution": "merge_duplicate"}
        r = c.post("/v1/labels", json=lab, headers={"X-API-Key": "k" * 24})
        assert r.status_code == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert any("gone" in p for p in ready.json()["problems"])


def test_store_file_replaced_while_serving_is_503(tmp_path):
    with _client(tmp_path) as c:
        assert c.post("/v1/resolve", json={"record_id": "before"}).status_code == 200
        db = tmp_path / "var" / "store.db"
        shutil.copy(db, tmp_path / "copy.db")
        db.unlink()
        shutil.move(tmp_path / "copy.db", db)
        r = c.post("/v1/resolve", json={"record_id": "after"})
        assert r.status_code == 503 and "replaced" in r.json()["detail"]
        assert any("replaced" in p for p in c.get("/readyz").json()["problems"])


@pytest.mark.parametrize("path", ["/v1/resolve", "/v1/resolve/batch"])
def test_a_stalled_commit_is_503_with_retry_after_within_the_deadline(tmp_path, path):
    with _client(tmp_path, commit_timeout_s=0.3) as c:
        store = c.app.state.service.store
        group = store._group
        release = threading.Event()
        real_write = group._write

        def stalled(rows):
            release.wait(30)
            real_write(rows)

        group._write = stalled
        try:
            body = (
                {"record_id": "s"} if path == "/v1/resolve" else {"records": [{"record_id": "s"}]}
            )
            r = c.post(path, json=body)
            assert r.status_code == 503 and "did not confirm" in r.json()["detail"], r.text
            assert r.headers["retry-after"]
            ready = c.get("/readyz").json()
            assert any("stalled" in p for p in ready["problems"]), ready
        finally:
            release.set()
        group._write = real_write
        assert c.post(path, json=body).status_code == 200


def test_failing_commits_make_the_store_not_ready_until_one_succeeds(tmp_path):
    with _client(tmp_path) as c:
        group = c.app.state.service.store._group
        real_write = group._write

        def broken(rows):
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

        group._write = broken
        assert c.post("/v1/resolve", json={"record_id": "x"}).status_code == 503
        assert any("disk I/O error" in p for p in c.get("/readyz").json()["problems"])
        group._write = real_write
        assert c.post("/v1/resolve", json={"record_id": "y"}).status_code == 200
        assert c.get("/readyz").status_code == 200


def test_a_fresh_start_whose_champion_was_refused_says_why(tmp_path):
    from tests.service.test_service_app import FakePolicy

    source = FakeSource({"1": FakePolicy("1", broken=True)})
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, policy_source=source)) as c:
        r = c.post("/v1/resolve", json={"record_id": "x"})
        assert r.status_code == 503
        msg = r.json()["detail"]
        assert "version 1" in msg and "refused" in msg and "model artifact is corrupt" in msg
