"""Issue 14: an unreachable MLflow store answers in seconds, with the reason.

With the tracking server down, each registry check took ~4 minutes of mlflow's retries and
`POST /v1/admin/reload` never answered.
"""

from __future__ import annotations

import socket
import threading

import pytest
from fastapi.testclient import TestClient

from autoresolve.model import registry
from autoresolve.service.app import create_app
from autoresolve.service.reload import RegistrySource
from tests.service.test_service_app import KEY, FakeSource, make_settings


def test_configure_bounds_mlflows_http_retries_unless_set(monkeypatch, tmp_path):
    for key in registry.HTTP_WAIT_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "33")
    registry.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "33"  # the operator's value wins


def test_a_tracking_server_that_went_away_is_reported_not_retried(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    source = RegistrySource("crm", f"http://127.0.0.1:{port}")
    source._registry()  # configured while the server is up
    listener.close()  # … then it goes away
    with pytest.raises(registry.RegistryError, match="unreachable"):
        source.champion_version()


def test_admin_reload_answers_while_a_check_hangs(tmp_path):
    release = threading.Event()

    class Hanging(FakeSource):
        hang = False

        def champion_version(self):
            if self.hang:
                release.wait(60)
            return super().champion_version()

    source = Hanging()
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        holder = c.app.state.service.holder
        source.hang = True
        poller = threading.Thread(target=holder.check_now)
        poller.start()
        try:
            import autoresolve.service.routes.admin as admin

            admin.ADMIN_WAIT_S = 0.2
            r = c.post("/v1/admin/reload", headers={"X-API-Key": KEY})
            assert r.status_code == 200 and r.json()["result"].startswith("busy:"), r.text
        finally:
            admin.ADMIN_WAIT_S = 5.0
            release.set()
            poller.join()
