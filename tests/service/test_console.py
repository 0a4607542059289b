"""The console in process (TestClient) with a real small policy: the session, CSRF, the queue in
the API's order, labelling through the API's label writer, the policy and report pages, and
`explain=true` on the resolve endpoints. The browser drives it in test_console_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autoresolve.model.domain import load_domain
from autoresolve.service.app import create_app
from autoresolve.service.console import session as sessions
from autoresolve.service.decision_codec import jsonable
from autoresolve.service.settings import Settings
from tests.support import CRM_DIR

KEY = "console-test-key-0123456789"
H = {"X-API-Key": KEY}
PAGES = [
    "/console",
    "/console/",
    "/console/queue",
    "/console/audits",
    "/console/policy",
    "/console/report",
]
POSTS = ["/console/labels", "/console/logout"]


class Source:
    def __init__(self, policy):
        self.policy = policy

    def champion_version(self) -> str:
        return "1"

    def load_champion(self):
        return self.policy


@pytest.fixture(scope="module")
def policy():
    from autoresolve.model.generators import crm
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM_DIR)
    trained, _ = train_policy(domain, crm.generate(1500, seed=5), seed=5, families=("lightgbm",))
    return trained.with_version("1")


@pytest.fixture
def client(tmp_path: Path, policy):
    settings = Settings(
        env="test", home=tmp_path, domain=CRM_DIR, api_keys=KEY, reload_interval_s=0
    )
    with TestClient(create_app(settings, policy_source=Source(policy))) as c:
        c.headers["X-API-Key"] = KEY  # the API calls of the tests; the console uses its cookie
        yield c


def records(n: int, seed: int = 11) -> list[dict]:
    from autoresolve.model.generators import crm

    df = crm.generate(n, seed=seed).drop(columns=["resolution"])
    return [jsonable(r) for r in df.to_dict("records")]


def log_in(client: TestClient) -> str:
    """Log in; the CSRF token of the session (from the queue page's forms)."""
    r = client.post("/console/login", data={"api_key": KEY, "next": "/console/queue"})
    assert r.status_code == 200, r.text  # followed the 303 to the queue
    return csrf_of(r.text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_every_page_redirects_to_the_login_and_every_post_is_refused_without_the_cookie(client):
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/console/login?next="), path
    for path in POSTS:
        r = client.post(path, data={"record_id": "x", "resolution": "y"}, follow_redirects=False)
        assert r.status_code == 401, path
    assert client.get("/console/login").status_code == 200


def test_login_sets_a_signed_httponly_strict_cookie_never_the_key(client):
    bad = client.post("/console/login", data={"api_key": "wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text
    assert sessions.COOKIE not in bad.headers.get("set-cookie", "")
    r = client.post("/console/login", data={"api_key": KEY}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert KEY not in cookie
    assert client.get("/console/policy", follow_redirects=False).status_code == 200


def test_a_tampered_or_expired_cookie_is_refused(client):
    token = sessions.login(KEY, (KEY,))
    assert sessions.check(token, (KEY,)) is not None
    expiry, fp, mac = token.split(".")
    assert sessions.check(f"{int(expiry) + 99}.{fp}.{mac}", (KEY,)) is None
    assert sessions.check(token, ("another-key-0123456789",)) is None  # key revoked
    assert sessions.check(sessions.login(KEY, (KEY,), now=0), (KEY,)) is None  # expired
    client.cookies.set(sessions.COOKIE, f"{expiry}.{fp}.{'0' * 64}", path="/console")
    assert client.get("/console/queue", follow_redirects=False).status_code == 303


def test_login_redirects_only_inside_the_console(client):
    r = client.post(
        "/console/login",
        data={"api_key": KEY, "next": "https://evil.example/console/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/console/queue"


def test_queue_is_the_apis_order_and_labels_go_through_the_api_writer(client):
    assert client.post("/v1/resolve/batch", json={"records": records(40)}).status_code == 200
    api = client.get("/v1/deferred", params={"limit": 20}, headers=H).json()
    assert api["total"] >= 4
    csrf = log_in(client)
    page = client.get("/console/queue").text
    shown = re.findall(r'data-record-id="([^"]+)"', page)
    assert shown == [it["record_id"] for it in api["items"]]
    first = api["items"][0]
    label = {"record_id": first["record_id"], "resolution": first["candidates"][0]["resolution"]}

    forged = client.post("/console/labels", data=label | {"csrf": "0" * 32})
    assert forged.status_code == 401
    assert client.get("/v1/deferred", headers=H).json()["total"] == api["total"]

    r = client.post("/console/labels", data=label | {"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "labelled=" in r.headers["location"]
    assert client.get("/v1/deferred", headers=H).json()["total"] == api["total"] - 1
    again = client.post("/v1/labels", json=label, headers=H).json()
    stored = {k: again[k] for k in ("inserted", "updated", "unchanged")}
    assert stored == {"inserted": 0, "updated": 0, "unchanged": 1}  # stored by the console


def test_audit_list_is_the_apis_and_a_confirmation_is_a_label(tmp_path: Path, policy):
    settings = Settings(
        env="test",
        home=tmp_path,
        domain=CRM_DIR,
        api_keys=KEY,
        reload_interval_s=0,
        audit_share=1.0,  # every automatic decision is sampled
    )
    with TestClient(create_app(settings, policy_source=Source(policy))) as client:
        client.headers["X-API-Key"] = KEY
        assert client.post("/v1/resolve/batch", json={"records": records(30)}).status_code == 200
        api = client.get("/v1/audits", params={"limit": 20}).json()
        assert api["total"] >= 2 and all(it["audit"] for it in api["items"])
        csrf = log_in(client)
        page = client.get("/console/audits").text
        assert re.findall(r'data-record-id="([^"]+)"', page) == [
            it["record_id"] for it in api["items"]
        ]
        assert 'aria-current="page">Audit list' in page and "sampled for audit" in page
        first = api["items"][0]
        confirm = {"record_id": first["record_id"], "resolution": first["resolution"]}
        r = client.post(
            "/console/labels",
            data=confirm | {"csrf": csrf, "back": "audits"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/console/audits?")
        assert client.get("/v1/audits").json()["total"] == api["total"] - 1
        history = client.post("/v1/labels", json=confirm).json()
        assert history["unchanged"] == 1


def test_an_unknown_resolution_is_refused_with_the_reason(client):
    client.post("/v1/resolve/batch", json={"records": records(20)})
    csrf = log_in(client)
    rid = client.get("/v1/deferred", headers=H).json()["items"][0]["record_id"]
    r = client.post("/console/labels", data={"record_id": rid, "resolution": "nope", "csrf": csrf})
    assert r.status_code == 200 and "nope" in r.text and 'role="alert"' in r.text


def test_queue_shows_fields_reason_candidates_and_why(client):
    client.post("/v1/resolve/batch", json={"records": records(40)})
    log_in(client)
    page = client.get("/console/queue").text
    assert "Deferred:" in page and "Fields" in page and "Another resolution" in page
    assert "The model's answer" in page or "Rule <code>" in page


def test_policy_and_report_pages_render_from_the_serving_policy_and_the_store(client, policy):
    client.post("/v1/resolve/batch", json={"records": records(30)})
    log_in(client)
    page = client.get("/console/policy").text
    assert policy.version in page and "Per-class thresholds" in page
    assert all(r.id in page for r in policy.rules.rules)
    assert "keeps no version history" in page  # a test source: no registry
    report = client.get("/console/report").text
    assert "Autonomy over time" in report and "Rule health" in report


def test_logout_ends_the_session(client):
    csrf = log_in(client)
    r = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/console/queue", follow_redirects=False).status_code == 303


def test_explain_only_when_asked(client, policy):
    recs = records(30)
    plain = client.post("/v1/resolve", json=recs[0]).json()
    assert "why" not in plain
    outs = client.post("/v1/resolve/batch?explain=true", json={"records": recs}).json()
    fields = set(policy.domain.field_types)
    kinds = set()
    for d in outs["decisions"]:
        why = d["why"]
        kinds.add(why["kind"])
        if why["kind"] == "rule":
            rule = next(r for r in policy.rules.rules if r.id == d["rule_id"])
            assert why["condition"] == rule.when and "answer" not in why
        else:
            assert why["answer"] == d["candidates"][0]["resolution"]
            assert why["runner_up"] == d["candidates"][1]["resolution"]
            assert {w["field"] for w in why["toward_answer"]} <= fields
            assert all(w["weight"] > 0 for w in why["toward_answer"])
            assert all(w["weight"] < 0 for w in why["toward_runner_up"])
    assert kinds == {"rule", "model"}
    one = client.post("/v1/resolve?explain=true", json=recs[0]).json()
    assert one["why"]["kind"] in ("rule", "model")
    assert (
        client.post("/v1/resolve/batch", json={"records": recs[:2]}).json()["decisions"][0].keys()
        == plain.keys()
    )


def test_explain_is_refused_for_a_batch_too_large_to_explain(client):
    from autoresolve.service.routes.decisions import MAX_EXPLAINED

    big = {"records": [{"record_id": f"x-{i}"} for i in range(MAX_EXPLAINED + 1)]}
    r = client.post("/v1/resolve/batch?explain=true", json=big)
    assert r.status_code == 422 and r.json()["field"] == "explain", r.text
    assert f"at most {MAX_EXPLAINED}" in r.json()["detail"]
    assert client.get("/v1/deferred", params={"limit": 1}).json()["total"] == 0  # nothing logged
    assert client.post("/v1/resolve/batch", json=big).status_code == 200


def test_pages_say_when_no_policy_is_loaded_yet(tmp_path):
    class Nothing:
        def champion_version(self):
            return None

        def load_champion(self):
            raise AssertionError("never asked: no champion")

    settings = Settings(env="test", home=tmp_path, domain=CRM_DIR, api_keys=KEY)
    with TestClient(create_app(settings, policy_source=Nothing())) as c:
        c.post("/console/login", data={"api_key": KEY})
        for path in ("/console/policy", "/console/report"):
            r = c.get(path)
            assert r.status_code == 503 and "no policy loaded yet" in r.text, path
        assert c.get("/console/queue").status_code == 200
