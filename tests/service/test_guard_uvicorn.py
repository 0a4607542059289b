"""The precision guard as deployed: `autoresolve serve` with two uvicorn workers, every automatic
decision audited. Wrong labels for audited model decisions, posted through /v1/labels, make the
guard act after exactly the number of labels its own test needs (computed here from the stored
guard state with model/guard.py), both workers then serve the tightened policy and the decision
says why; right labels release it, again after the number the guard's test needs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoresolve.model.guard import GuardState, decide, observe_model
from autoresolve.service.store import DecisionStore
from tests.service.test_service_uvicorn import KEY, Server, _register
from tests.support import wait_until

pytestmark = pytest.mark.slow

H = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    pytest.importorskip("lightgbm")
    home = tmp_path_factory.mktemp("guard")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _register(home, seed=1, n=20_000)  # fewer rows certify no model threshold on CRM
    s = Server(
        home, workers=2, env={"AUTORESOLVE_AUDIT_SHARE": "1", "AUTORESOLVE_GUARD_POLL_MS": "100"}
    )
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def _guard_row(home: Path, version: str) -> dict:
    store = DecisionStore.from_url(f"sqlite:///{home / 'autoresolve.db'}")
    try:
        row = store.read_guard("crm", version)
    finally:
        store.close()
    assert row is not None, f"no guard row for {version}"
    return row


def _labels_until(state: GuardState, decisions: list[dict], correct: bool, acted) -> int:
    """How many labels (in this order, each right or wrong) the guard needs until `acted`."""
    for n, d in enumerate(decisions, start=1):
        state = observe_model(state, d["confidence"], correct)
        if acted(decide(state)):
            return n
    raise AssertionError(f"{len(decisions)} labels are not enough for the guard to act")


def _workers_serving(server: Server, want) -> set[int]:
    """Worker pids seen at /v1/policy from fresh connections whose guard section is `want`."""
    seen: dict[int, bool] = {}
    for _ in range(12):
        with httpx.Client(base_url=server.url) as fresh:
            guard = fresh.get("/v1/policy").json()["guard"]
        seen[guard["worker"]] = seen.get(guard["worker"], True) and want(guard)
    return {pid for pid, ok in seen.items() if ok} if all(seen.values()) else set()


def _post(server: Server, decisions: list[dict], correct: bool) -> None:
    labels = [
        {
            "record_id": d["record_id"],
            "resolution": d["candidates"][0 if correct else 1]["resolution"],
        }
        for d in decisions
    ]
    r = server.client.post("/v1/labels", json={"labels": labels, "source": "audit"}, headers=H)
    assert r.status_code == 200, r.text


def test_audited_labels_make_every_worker_tighten_and_release(server) -> None:
    from autoresolve.model.generators import crm

    records = json.loads(
        crm.generate(3000, seed=11)
        .drop(columns=["resolution"])
        .to_json(orient="records", date_format="iso")
    )
    r = server.client.post("/v1/resolve/batch", json={"records": records})
    assert r.status_code == 200, r.text
    decided = r.json()["decisions"]
    model = [d for d in decided if d["source"] == "model" and d["outcome"] == "resolved"]
    assert model and all(d["audit"] for d in decided if d["outcome"] == "resolved")
    model.sort(key=lambda d: -d["confidence"])
    version = model[0]["policy_version"]
    audits = server.client.get("/v1/audits", params={"limit": 5}, headers=H).json()
    assert audits["total"] == sum(d["outcome"] == "resolved" for d in decided)

    # the drop: wrong answers; the guard acts at exactly the label its test needs
    home = server.home
    state = GuardState.from_dict(_guard_row(home, version)["state"])
    need = _labels_until(state, model, False, lambda v: v.level > 0)
    for i, d in enumerate(model[:need], start=1):
        _post(server, [d], correct=False)
        acted = _guard_row(home, version)["status"] != "certified"
        assert acted == (i == need), (i, need)
    wait_until(
        lambda: len(_workers_serving(server, lambda g: g["state"] != "certified")) == 2,
        timeout=30,
        what="both workers to serve the tightened policy",
    )
    body = server.client.post("/v1/resolve", json=_record_of(records, model[0])).json()
    assert body["outcome"] == "deferred" and body["defer_reason"] == "guard", body
    assert "precision guard" in body["guard_reason"] and "recertification" in body["guard_reason"]
    metrics = server.client.get("/metrics").text
    assert f'autoresolve_guard_state{{domain="crm",policy_version="{version}"}} 0.0' not in metrics
    assert "autoresolve_guard_recertify_requested" in metrics

    # recovery by evidence: right answers for the next audited decisions
    row = _guard_row(home, version)
    state = GuardState.from_dict(row["state"])
    rest = model[need:]
    release = _labels_until(state, rest, True, lambda v: v.level == 0)
    print(f"guard: acted after {need} wrong labels, released after {release} right ones")
    _post(server, rest[: release - 1], correct=True)
    assert _guard_row(home, version)["status"] != "certified"
    _post(server, rest[release - 1 : release], correct=True)
    assert _guard_row(home, version)["status"] == "certified"
    wait_until(
        lambda: len(_workers_serving(server, lambda g: g["state"] == "certified")) == 2,
        timeout=30,
        what="both workers to serve the certified policy again",
    )
    back = server.client.post("/v1/resolve", json=_record_of(records, model[0])).json()
    assert back["outcome"] == "resolved" and back["guard_reason"] is None


def _record_of(records: list[dict], decision: dict) -> dict:
    return next(r for r in records if str(r["record_id"]) == decision["record_id"])
