"""The service as deployed: `autoresolve serve` with two uvicorn workers on a free 127.0.0.1 port,
a real policy trained on small CRM data and registered in a temporary MLflow store, SQLite store.

Covers what only a real server shows: workers sharing one store, multi-process metrics, hot reload
from the registry (and refusal of a tampered version), schemathesis against the live OpenAPI, and
kill -9 under load followed by a restart with every acknowledged decision still in the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.service.store import DecisionStore
from tests.support import CRM_DIR, free_port, wait_until

pytestmark = pytest.mark.slow

CRM = CRM_DIR
KEY = "uvicorn-test-key-0123456789"
H = {"X-API-Key": KEY}


class Server:
    """`autoresolve serve` in its own process group, so kill -9 reaches every worker."""

    def __init__(self, home: Path, workers: int = 2, env: dict[str, str] | None = None):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / f"serve-{self.port}.log"
        env = {
            **os.environ,
            "AUTORESOLVE_ENV": "test",
            "AUTORESOLVE_HOME": str(home),
            "AUTORESOLVE_API_KEYS": KEY,
            "AUTORESOLVE_RELOAD_INTERVAL_S": "0.5",
            "AUTORESOLVE_MAX_BODY_BYTES": "2000000",
            "OMP_NUM_THREADS": "1",
            **(env or {}),
        }
        for k in ("MLFLOW_TRACKING_URI", "AUTORESOLVE_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(k, None)
        cmd = [
            sys.executable,
            "-c",
            "from autoresolve.service.cli import app; app()",
            "serve",
            "--domain",
            str(CRM),
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=20, headers=H)

    def wait_ready(self, timeout: float = 120) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            return self.client.get("/readyz").status_code == 200

        try:
            wait_until(ready, timeout=timeout, every=0.2, what="the server to be ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.log.read_text()[-3000:]}") from exc

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.client.close()


def _register(home: Path, seed: int, n: int = 3000):
    from autoresolve.model import registry
    from autoresolve.model.generators import crm
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM)
    registry.configure(f"sqlite:///{home / 'mlflow.db'}", home / "mlartifacts")
    df = crm.generate(n, seed=seed)
    policy, report = train_policy(domain, df, seed=seed, families=("lightgbm",))
    return registry.log_policy(policy, report, run_name=f"test-{seed}")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    pytest.importorskip("lightgbm")
    h = tmp_path_factory.mktemp("deploy")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    assert str(_register(h, seed=1)) == "1"
    return h


@pytest.fixture(scope="module")
def server(home) -> Iterator[Server]:
    s = Server(home, workers=2)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def store_of(home: Path) -> DecisionStore:
    return DecisionStore.from_url(f"sqlite:///{home / 'autoresolve.db'}")


def test_real_policy_decides_logs_and_takes_labels(server, home):
    c = server.client
    spam = {
        "record_id": "t-1",
        "workflow": "lead_routing",
        "error_code": "NO_OWNER_MATCH",
        "lead_source": "web_form",
        "email_domain": "mailinator.com",
        "is_free_email": True,
    }
    r = c.post("/v1/resolve", json=spam)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["outcome"] == "resolved" and d["source"] == "rule" and d["policy_version"] == "crm:1"
    odd = {"record_id": "t-2", "country": "AQ", "employees": 9e7, "notes": "Zoë 👩🏽‍💻 \u202e"}
    d2 = c.post("/v1/resolve", json=odd).json()
    assert d2["outcome"] == "deferred" and d2["defer_reason"] in (
        "novel",
        "low_confidence",
        "no_model",
    )
    batch = {
        "records": [
            {"record_id": f"b-{i}", "country": "DE", "employees": 10 * i} for i in range(20)
        ]
    }
    out = c.post("/v1/resolve/batch", json=batch).json()["decisions"]
    assert [x["record_id"] for x in out] == [f"b-{i}" for i in range(20)]
    assert (
        c.post(
            "/v1/labels", json={"record_id": "t-2", "resolution": "enrich_company_data"}, headers=H
        ).json()["inserted"]
        == 1
    )
    page = c.get("/v1/deferred?limit=500", headers=H).json()
    assert "t-2" not in [i["record_id"] for i in page["items"]]
    ids = store_of(home).decided_ids("crm")
    assert {"t-1", "t-2"} | {f"b-{i}" for i in range(20)} <= ids
    pol = c.get("/v1/policy").json()["policy"]
    assert pol["version"] == "crm:1" and "certificate" in pol
    # each class's threshold, certification sample and bound; what the model never resolves
    assert set(pol["per_class"]) == set(pol["classes"])
    for row in pol["per_class"].values():
        assert {"threshold", "n_certification", "accepted", "error_upper_bound"} <= set(row)
    for resolution, why in pol["never_resolved"].items():
        assert why and pol["thresholds"].get(resolution) is None


def test_metrics_merge_both_workers(server):
    # new connections spread over the workers; the merged count must match what we sent
    before = _decisions_total(server)
    for i in range(30):
        with httpx.Client(base_url=server.url, headers=H) as fresh:
            assert fresh.post("/v1/resolve", json={"record_id": f"m-{i}"}).status_code == 200
    assert _decisions_total(server) - before == 30
    text = server.client.get("/metrics").text
    assert 'autoresolve_policy_info{domain="crm"' in text
    assert "autoresolve_deferred_queue_depth" in text


def test_every_metric_the_ops_files_name_is_exported(server):
    from tests.service.test_ops_files import unexported

    c = server.client
    spam = {"record_id": "o-1", "email_domain": "mailinator.com"}
    assert c.post("/v1/resolve", json=spam).status_code == 200
    assert c.post("/v1/resolve", json={"record_id": "o-2", "country": "AQ"}).status_code == 200
    assert c.post("/v1/resolve/batch", json={"records": [{"record_id": "o-3"}]}).status_code == 200
    assert httpx.get(f"{server.url}/v1/deferred").status_code == 401  # counted as an error
    missing = unexported(c.get("/metrics").text)
    assert not missing, f"named in ops/ but not exported by /metrics: {missing}"


def _decisions_total(server) -> float:
    total = 0.0
    for line in server.client.get("/metrics").text.splitlines():
        if line.startswith("autoresolve_decisions_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_bad_input_over_http(server):
    c = server.client
    big = b'{"record_id": "x", "notes": "' + b"y" * 10_000_000 + b'"}'
    try:
        r = c.post("/v1/resolve", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "limit" in r.json()["detail"]
    except httpx.WriteError:
        pass  # the server answered 413 and closed before the client finished sending
    r = c.post(
        "/v1/resolve", content=b'{"record_id": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    r = c.post("/v1/resolve", json={"record_id": "x", "employes": 3})
    assert r.status_code == 422 and "Did you mean 'employees'" in r.json()["detail"]
    recs = {"records": [{"record_id": str(i)} for i in range(100_000)]}
    try:
        r = c.post("/v1/resolve/batch", json=recs)
        assert r.status_code == 413
    except httpx.WriteError:
        pass
    assert c.get("/readyz").status_code == 200


def test_schemathesis_finds_no_server_error(server, home):
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.exists():
        pytest.skip("schemathesis is not installed in this environment")
    cmd = [
        str(exe),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "-n",
        "8",
        "--seed",
        "7",
        "--phases",
        "coverage,fuzzing",
        "--generation-database",
        "none",
        "-H",
        f"X-API-Key:{KEY}",
        "--workers",
        "1",
        "--max-time",
        "15",
        "--no-color",
        "--request-timeout",
        "10",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=home)
    tail = done.stdout[-4000:]
    assert done.returncode == 0, tail
    assert "No issues found" in tail or "passed" in tail


def test_hot_reload_swaps_champion_and_refuses_a_tampered_version(server, home):
    from autoresolve.model import registry

    v2 = _register(home, seed=2)
    registry.promote("crm", v2, "test: new champion")
    _wait_for_version(server, f"crm:{v2}")
    # a tampered artifact: its sha256 no longer matches the one recorded at registration
    t0 = time.time()
    v3 = _register(home, seed=3)
    tampered = [
        p for p in (home / "mlartifacts").rglob(registry.POLICY_FILE) if p.stat().st_mtime >= t0
    ]
    assert tampered
    for p in tampered:
        p.write_bytes(b"not a policy")
    registry.promote("crm", v3, "test: tampered")
    wait_until(
        lambda: all(str(v3) in status["refused"] for status in _reload_status(server)),
        what=f"every worker to refuse version {v3}",
    )
    for _ in range(10):
        with httpx.Client(base_url=server.url, headers=H) as fresh:
            got = fresh.post("/v1/resolve", json={"record_id": "after-tamper"}).json()
        assert got["policy_version"] == f"crm:{v2}"
    assert server.client.get("/readyz").status_code == 200
    registry.promote("crm", v2, "test: restore")


def _reload_status(server: Server, asks: int = 6) -> list[dict]:
    """`/v1/policy`'s reload status from several fresh connections (spread over the workers)."""
    out = []
    for _ in range(asks):
        with httpx.Client(base_url=server.url, headers=H) as fresh:
            out.append(fresh.get("/v1/policy").json()["reload"])
    return out


def _wait_for_version(server: Server, version: str, timeout: float = 30) -> None:
    def served() -> set[str]:
        seen = set()
        for _ in range(6):
            with httpx.Client(base_url=server.url, headers=H) as fresh:
                answer = fresh.post("/v1/resolve", json={"record_id": "rl"}).json()
                seen.add(answer["policy_version"])
        return seen

    wait_until(lambda: served() == {version}, timeout=timeout, what=f"every worker on {version}")


def test_kill_9_under_load_loses_no_acknowledged_decision(server, home):
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        i = 0
        with httpx.Client(base_url=server.url, timeout=5, headers=H) as c:
            while not stop.is_set():
                rid = f"k-{worker}-{i}"
                i += 1
                try:
                    r = c.post("/v1/resolve", json={"record_id": rid, "country": "DE"})
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.append(rid)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) > 200, what="decisions acknowledged under load")
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) > 20, f"only {len(acked)} acknowledged before the kill"
    restarted = Server(home, workers=1)
    try:
        restarted.wait_ready()
        missing = set(acked) - store_of(home).decided_ids("crm")
        assert not missing, (
            f"{len(missing)} acknowledged decisions lost, e.g. {sorted(missing)[:5]}"
        )
        assert restarted.client.post("/v1/resolve", json={"record_id": "again"}).status_code == 200
    finally:
        restarted.stop()
