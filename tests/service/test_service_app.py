"""The HTTP app in process (TestClient) with a scripted policy: contracts, bad input, auth, reload.

The real policy is exercised over a real uvicorn in test_service_uvicorn.py; here a small test
double keeps these tests fast and lets them script failures (a broken version, a store outage).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from autoresolve.model.decision import Candidate, Decision
from autoresolve.model.domain import load_domain
from autoresolve.service.app import create_app
from autoresolve.service.schemas import DecisionOut
from autoresolve.service.settings import Settings
from autoresolve.service.store import DecisionStore
from tests.support import CRM_DIR

CRM = CRM_DIR
KEY = "k" * 24


class FakePolicy:
    """Defers records without a country (as novel), resolves the rest by rule or model."""

    def __init__(self, version: str = "1", broken: bool = False):
        self.version = version
        self.domain = load_domain(CRM)
        self.rules = None
        self.broken = broken
        self.decided: list[str] = []  # record ids, once per decision made

    def decide_records(self, records, now=None) -> list[Decision]:
        self.decided.extend(str(r["record_id"]) for r in records)
        return [self.decide_record(r, now) for r in records]

    def decide_record(self, record, now=None) -> Decision:
        if self.broken:
            raise RuntimeError("model artifact is corrupt")
        rid = str(record["record_id"])
        at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
        if record.get("email_domain") == "mailinator.com":
            return Decision(
                rid,
                "resolved",
                "disqualify_spam",
                "rule",
                "spam",
                1.0,
                None,
                None,
                (),
                self.version,
                at,
            )
        if record.get("country") is None:
            cands = (Candidate("enrich_company_data", 0.4), Candidate("route_smb_queue", 0.35))
            return Decision(
                rid, "deferred", None, None, None, 0.4, 0.8, "novel", cands, self.version, at
            )
        if record.get("employees") is not None and record["employees"] > 1000:
            cands = (Candidate("route_enterprise_sales", 0.93), Candidate("route_smb_queue", 0.05))
            return Decision(
                rid,
                "resolved",
                "route_enterprise_sales",
                "model",
                None,
                0.93,
                0.8,
                None,
                cands,
                self.version,
                at,
            )
        cands = (Candidate("route_smb_queue", 0.55), Candidate("nurture_marketing", 0.4))
        return Decision(
            rid, "deferred", None, None, None, 0.55, 0.8, "low_confidence", cands, self.version, at
        )

    def decide_frame(self, df: pd.DataFrame, now=None) -> pd.DataFrame:
        rows = []
        for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
            rows.append(self.decide_record(rec).to_dict())
        return pd.DataFrame(rows)

    def describe(self) -> dict:
        return {"version": self.version, "rules_version": "abc", "thresholds": {"global": 0.8}}


class FakeSource:
    def __init__(self, policies: dict[str, FakePolicy] | None = None, champion: str | None = "1"):
        self.policies = policies or {"1": FakePolicy("1")}
        self.champion = champion

    def champion_version(self):
        return self.champion

    def load_champion(self):
        return self.policies[self.champion]


def make_settings(tmp_path: Path, **kw) -> Settings:
    base = dict(
        env="test",
        home=tmp_path,
        domain=CRM,
        api_keys=KEY,
        reload_interval_s=0,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        # most tests here are about other things; the default (a key outside development) is
        # test_resolve_needs_a_key_outside_development's
        resolve_requires_key=False,
    )
    base.update(kw)
    return Settings(**base)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def client(tmp_path, source):
    app = create_app(make_settings(tmp_path), policy_source=source)
    with TestClient(app) as c:
        yield c


def test_resolve_returns_decision_and_logs_it_first(client, tmp_path):
    r = client.post("/v1/resolve", json={"record_id": "a1", "country": "DE", "employees": 5000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "resolved" and body["source"] == "model"
    assert body["resolution"] == "route_enterprise_sales"
    assert set(body) == {
        "record_id",
        "outcome",
        "resolution",
        "source",
        "rule_id",
        "confidence",
        "threshold",
        "defer_reason",
        "candidates",
        "policy_version",
        "decided_at",
        "audit",
        "guard_reason",
    }
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    frame = store.decisions_frame("crm")
    assert list(frame["record_id"]) == ["a1"]
    assert frame.loc[0, "country"] == "DE" and frame.loc[0, "employees"] == 5000
    # the logged decision is the answer, field for field (the hot path builds its row itself)
    logged = frame.loc[0, list(body)].to_dict()
    when = pd.Timestamp(logged.pop("decided_at")), pd.Timestamp(body.pop("decided_at"))
    assert when[0] == when[1]
    assert {k: (v if v == v else None) for k, v in logged.items()} == body


def test_integer_id_is_accepted_as_text(client):
    r = client.post("/v1/resolve", json={"record_id": 12345, "country": "DE"})
    assert r.status_code == 200 and r.json()["record_id"] == "12345"


def test_openapi_shows_domain_fields_with_types(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    rec = schemas["CrmRecord"]
    assert rec["required"] == ["record_id"]
    assert rec["additionalProperties"] is False
    props = rec["properties"]
    assert {"number", "null"} <= {t.get("type") for t in props["employees"]["anyOf"]}
    assert {"boolean"} <= {t.get("type") for t in props["is_free_email"]["anyOf"]}
    label = schemas["CrmLabel"]["properties"]["resolution"]
    assert "merge_duplicate" in label["enum"]


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"record_id": "x", "countyr": "DE"}, "countyr", "Did you mean 'country'"),
        ({"country": "DE"}, "record_id", "required"),
        ({"record_id": "x", "employees": "many"}, "employees", "number"),
        ({"record_id": "x", "is_free_email": "perhaps"}, "is_free_email", "boolean"),
        ({"record_id": "x", "created_at": "yesterday-ish"}, "created_at", "datetime"),
        ({"record_id": "", "country": "DE"}, "record_id", "at least 1"),
        ({"record_id": " \f\t", "country": "DE"}, "record_id", "pattern"),
        ({"record_id": "x", "notes": "a\u0000b"}, "notes", "NUL"),
        ({"record_id": "x", "notes": "y" * 20_000}, "notes", "at most"),
        ({"record_id": ["x"]}, "record_id", "string"),
    ],
)
def test_bad_record_is_422_naming_the_field(client, payload, field, words):
    r = client.post("/v1/resolve", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field
    assert words.lower() in body["detail"].lower()


@pytest.mark.parametrize(
    "raw",
    [
        '{"record_id": "x", "employees": NaN}',
        '{"record_id": "x", "employees": Infinity}',
        '{"record_id": "x", "employees": -1e999}',
    ],
)
def test_nan_and_inf_are_refused(client, raw):
    r = client.post("/v1/resolve", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "employees", r.text
    assert "finite" in r.json()["detail"]


@pytest.mark.parametrize("raw", [b'{"record_id": "x",', b"not json", b"\xff\xfe{}", b"[]", b"null"])
def test_malformed_json_is_4xx_json(client, raw):
    r = client.post("/v1/resolve", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["detail"]


def test_lone_surrogate_is_refused_and_odd_unicode_kept(client, tmp_path):
    raw = '{"record_id": "x", "notes": "\\ud800 broken"}'
    r = client.post("/v1/resolve", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "notes"
    assert "unicode" in r.json()["detail"]
    raw = '{"records": [{"record_id": "x", "notes": "\\ud800 broken"}]}'
    r = client.post("/v1/resolve/batch", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "records.0.notes"
    assert "unicode" in r.json()["detail"]
    odd = "Zoë 👩🏽‍💻 \u202e ﷽ 𝕏 \u200b"
    r = client.post("/v1/resolve", json={"record_id": "é-1", "notes": odd, "country": "FR"})
    assert r.status_code == 200 and r.json()["record_id"] == "é-1"
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.decisions_frame("crm").loc[0, "notes"] == odd


def test_body_over_limit_is_413(tmp_path, source):
    app = create_app(make_settings(tmp_path, max_body_bytes=10_000), policy_source=source)
    with TestClient(app) as c:
        big = {"record_id": "x", "notes": "y" * 20_000}
        r = c.post("/v1/resolve", json=big)
        assert r.status_code == 413 and "AUTORESOLVE_MAX_RECORD_BYTES" in r.json()["detail"]
        r = c.post("/v1/resolve/batch", json={"records": [big]})
        assert r.status_code == 413 and "AUTORESOLVE_MAX_BODY_BYTES" in r.json()["detail"]

        def chunks():
            yield b'{"record_id": "x", "notes": "'
            for _ in range(20):
                yield b"y" * 1000
            yield b'"}'

        r = c.post("/v1/resolve", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_ten_megabyte_body_is_413(client):
    body = b'{"record_id": "x", "notes": "' + b"y" * 10_000_000 + b'"}'
    r = client.post("/v1/resolve", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_batch_too_many_records_is_refused(tmp_path, source):
    settings = make_settings(tmp_path, max_batch_records=50, max_body_bytes=50_000_000)
    with TestClient(create_app(settings, policy_source=source)) as c:
        recs = [{"record_id": str(i)} for i in range(100_000)]
        r = c.post("/v1/resolve/batch", json={"records": recs})
        assert r.status_code == 422 and r.json()["field"] == "records"
        assert "at most 50" in r.json()["detail"]


def test_batch_decides_in_order_and_logs_in_one_go(client, tmp_path):
    recs = [
        {"record_id": "b1", "email_domain": "mailinator.com", "country": "US"},
        {"record_id": "b2"},
        {"record_id": "b3", "country": "DE", "employees": 20},
    ]
    r = client.post("/v1/resolve/batch", json={"records": recs})
    assert r.status_code == 200, r.text
    out = r.json()["decisions"]
    assert [d["record_id"] for d in out] == ["b1", "b2", "b3"]
    assert [d["outcome"] for d in out] == ["resolved", "deferred", "deferred"]
    r = client.post("/v1/resolve/batch", json={"records": [{"record_id": "ok"}, {"bad": 1}]})
    assert r.status_code == 422 and r.json()["field"].startswith("records.1")
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.count_decisions("crm") == 3


def test_labels_need_a_key_and_are_idempotent(client, tmp_path):
    lab = {"record_id": "a1", "resolution": "merge_duplicate"}
    assert client.post("/v1/labels", json=lab).status_code == 401
    r = client.post("/v1/labels", json=lab, headers={"X-API-Key": "wrong-key"})
    assert r.status_code == 403 and "wrong-key" not in r.text
    h = {"X-API-Key": KEY}
    first = client.post("/v1/labels", json=lab, headers=h).json()
    assert (first["inserted"], first["updated"], first["unchanged"]) == (1, 0, 0)
    assert first["unknown_record_ids"] == ["a1"]  # never decided: said so
    assert client.post("/v1/labels", json=lab, headers=h).json()["unchanged"] == 1
    many = {
        "labels": [
            {"record_id": "a1", "resolution": "nurture_marketing"},
            {"record_id": 7, "resolution": "merge_duplicate"},
        ],
        "source": "review",
    }
    got = client.post("/v1/labels", json=many, headers=h).json()
    assert (got["inserted"], got["updated"], got["unchanged"]) == (1, 1, 0)
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    hist = store.label_history_of("crm", "a1")
    assert [x["resolution"] for x in hist] == ["merge_duplicate", "nurture_marketing"]


def test_unknown_resolution_lists_allowed_values(client):
    h = {"X-API-Key": KEY}
    r = client.post("/v1/labels", json={"record_id": "a", "resolution": "merge_dupe"}, headers=h)
    assert r.status_code == 422, r.text
    assert "resolution" in r.json()["field"]
    assert "merge_duplicate" in r.json()["detail"]


def test_deferred_queue_orders_by_what_a_label_teaches(client):
    h = {"X-API-Key": KEY}
    client.post("/v1/resolve", json={"record_id": "low", "country": "DE", "employees": 10})
    client.post("/v1/resolve", json={"record_id": "novel"})
    client.post("/v1/resolve", json={"record_id": "auto", "country": "DE", "employees": 9000})
    assert client.get("/v1/deferred").status_code == 401
    first = client.get("/v1/deferred?limit=1", headers=h)
    page = first.json()
    assert page["total"] == 2 and page["next"]
    assert first.headers["Link"] == f'</v1/deferred?limit=1&cursor={page["next"]}>; rel="next"'
    assert page["items"][0]["record_id"] == "novel"
    assert page["items"][0]["record"]["record_id"] == "novel"
    page2 = client.get(f"/v1/deferred?limit=1&cursor={page['next']}", headers=h).json()
    assert page2["items"][0]["record_id"] == "low" and page2["next"] is None
    client.post(
        "/v1/labels", json={"record_id": "novel", "resolution": "enrich_company_data"}, headers=h
    )
    assert client.get("/v1/deferred", headers=h).json()["total"] == 1
    assert client.get("/v1/deferred?limit=0", headers=h).status_code == 422


def test_policy_health_ready_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["registry_version"] == "1"
    pol = client.get("/v1/policy").json()
    assert ready.json()["policy_version"] == pol["policy"]["version"]
    assert pol["policy"]["rules_version"] == "abc" and pol["reload"]["version"] == "1"
    client.post("/v1/resolve", json={"record_id": "m1"})
    text = client.get("/metrics").text
    assert (
        'autoresolve_decisions_total{outcome="deferred",reason="novel",source="none"} 1.0' in text
    )
    assert 'autoresolve_policy_info{domain="crm",version="1"} 1.0' in text
    assert 'autoresolve_deferred_queue_depth{domain="crm"} 1.0' in text
    assert "autoresolve_request_seconds_bucket" in text
    assert client.get("/v1/ping").json() == {"ok": True}


def test_not_ready_until_a_policy_exists_then_hot_reload(tmp_path):
    source = FakeSource(
        {"1": FakePolicy("1"), "2": FakePolicy("2", broken=True), "3": FakePolicy("3")},
        champion=None,
    )
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        assert c.get("/readyz").status_code == 503
        r = c.post("/v1/resolve", json={"record_id": "x"})
        assert r.status_code == 503 and "no policy loaded" in r.json()["detail"]
        h = {"X-API-Key": KEY}
        assert c.post("/v1/admin/reload").status_code == 401
        source.champion = "1"
        assert c.post("/v1/admin/reload", headers=h).json()["result"] == "loaded: version 1"
        assert c.get("/readyz").status_code == 200
        source.champion = "2"
        res = c.post("/v1/admin/reload", headers=h).json()
        assert res["result"].startswith("refused: version 2") and "corrupt" in res["result"]
        assert c.post("/v1/resolve", json={"record_id": "y"}).json()["policy_version"] == "1"
        source.champion = "3"
        c.post("/v1/admin/reload", headers=h)
        assert c.post("/v1/resolve", json={"record_id": "z"}).json()["policy_version"] == "3"
        assert 'result="refused"' in c.get("/metrics").text


def test_policy_for_another_schema_is_refused(tmp_path):
    other = FakePolicy("9")
    other.domain = load_domain(CRM).__class__(**{**load_domain(CRM).__dict__, "name": "itsm"})
    source = FakeSource({"9": other}, champion="9")
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        assert c.get("/readyz").status_code == 503
        assert c.get("/readyz").json()["problems"] == ["no policy loaded"]
        status = c.post("/v1/admin/reload", headers={"X-API-Key": KEY}).json()
        assert "itsm" in status["result"]


@pytest.mark.parametrize("env", ["test", "production"])
def test_resolve_needs_a_key_outside_development(tmp_path, source, env):
    settings = make_settings(tmp_path, env=env, resolve_requires_key=None)
    assert settings.resolve_requires_key is True
    with TestClient(create_app(settings, policy_source=source)) as c:
        for path, body in [
            ("/v1/resolve", {"record_id": "x"}),
            ("/v1/resolve/batch", {"records": [{"record_id": "x"}]}),
        ]:
            assert c.post(path, json=body).status_code == 401, path
            assert c.post(path, json=body, headers={"X-API-Key": KEY}).status_code == 200
    dev = make_settings(tmp_path, env="development", api_keys="", resolve_requires_key=None)
    assert dev.resolve_requires_key is False


def test_short_keys_are_refused_outside_development(tmp_path):
    with pytest.raises(ValueError, match="shorter than 16"):
        make_settings(tmp_path, env="test", api_keys="abcde")
    assert make_settings(tmp_path, env="development", api_keys="abcde").keys == ("abcde",)


def test_resolve_can_require_a_key(tmp_path, source):
    settings = make_settings(tmp_path, resolve_requires_key=True)
    with TestClient(create_app(settings, policy_source=source)) as c:
        assert c.post("/v1/resolve", json={"record_id": "x"}).status_code == 401
        r = c.post("/v1/resolve", json={"record_id": "x"}, headers={"X-API-Key": KEY})
        assert r.status_code == 200


def test_store_locked_is_503_then_recovers(tmp_path, source):
    settings = make_settings(tmp_path, store_busy_timeout_ms=200)
    with TestClient(create_app(settings, policy_source=source)) as c:
        assert c.post("/v1/resolve", json={"record_id": "before"}).status_code == 200
        locker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            r = c.post("/v1/resolve", json={"record_id": "during"})
            assert r.status_code == 503, r.text
            assert "store unavailable" in r.json()["detail"] and "locked" in r.json()["detail"]
            assert r.headers["retry-after"] == "5"
            assert source.policies["1"].decided.count("during") == 1  # one run, no replay
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert c.post("/v1/resolve", json={"record_id": "after"}).status_code == 200
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.decided_ids("crm") == {"before", "after"}


def test_decision_log_writer_runs_with_the_app_and_stops_with_it(tmp_path, source):
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        store = c.app.state.service.store
        writer = store._group._thread  # the group-commit thread, started with the store
        assert writer.is_alive()
        for i in range(3):
            assert c.post("/v1/resolve", json={"record_id": f"w{i}"}).status_code == 200
        assert store.commits == 3  # one request at a time: one commit each
    assert not writer.is_alive()  # the lifespan closed the store it opened
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.decided_ids("crm") == {"w0", "w1", "w2"}


def test_unexpected_error_is_500_json_without_internals(tmp_path):
    policy = FakePolicy("1")
    policy.decide_record = lambda record, now=None: 1 / 0  # type: ignore[method-assign]
    source = FakeSource({"1": FakePolicy("1")})
    with TestClient(
        create_app(make_settings(tmp_path), policy_source=source), raise_server_exceptions=False
    ) as c:
        c.app.state.service.holder.policy = policy
        r = c.post("/v1/resolve", json={"record_id": "x"})
        assert r.status_code == 500
        assert "ZeroDivision" not in r.text and "Traceback" not in r.text
        assert json.loads(r.text)["type"] == "/problems/internal"


def test_unknown_path_and_method_are_json(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and "see /docs" in r.json()["detail"]
    assert client.get("/v1/resolve").status_code == 405


def test_policy_whose_rule_examples_fail_is_refused(tmp_path):
    from autoresolve.model.policy import default_rules

    served = default_rules(load_domain(CRM))

    class Rules:  # the served file's rules (else that check refuses first), examples failing
        version = served.version
        rules = served.rules

        def run_examples(self):
            return ["rule 'spam' example 1: expected disqualify_spam, got nothing"]

    bad = FakePolicy("2")
    bad.rules = Rules()
    source = FakeSource({"1": FakePolicy("1"), "2": bad}, champion="1")
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        source.champion = "2"
        res = c.post("/v1/admin/reload", headers={"X-API-Key": KEY}).json()
        assert res["result"].startswith("refused: version 2")
        assert "rule example" in res["result"] and "spam" in res["result"]
        assert c.post("/v1/resolve", json={"record_id": "x"}).json()["policy_version"] == "1"


def test_resolve_bytes_are_the_decision_model_json(client):
    """The answer is serialised through the route's response model, DecisionOut."""
    for payload in (
        {"record_id": "b1", "country": "DE", "employees": 5000},  # model, candidates
        {"record_id": "b2"},  # deferred as novel
        {"record_id": "b3", "email_domain": "mailinator.com", "country": "DE"},  # rule
    ):
        r = client.post("/v1/resolve", json=payload)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert (
            r.content
            == DecisionOut.model_validate_json(r.content)
            .model_dump_json(exclude_unset=True)
            .encode()
        )
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/v1/resolve"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/DecisionOut"}
    assert "/v1/resolve" in spec["paths"] and "post" not in spec["paths"]["/v1/ping"]


def test_api_key_is_a_security_dependency_in_openapi(client, tmp_path, source):
    spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["APIKey"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "one of the keys in AUTORESOLVE_API_KEYS",
    }
    paths = spec["paths"]
    for method, path in [("post", "/v1/labels"), ("get", "/v1/deferred")]:
        assert paths[path][method]["security"] == [{"APIKey": []}], path
    assert paths["/v1/admin/reload"]["post"]["security"] == [{"APIKey": []}]
    assert "security" not in paths["/v1/resolve"]["post"]  # open unless configured
    settings = make_settings(tmp_path, resolve_requires_key=True)
    with TestClient(create_app(settings, policy_source=source)) as c:
        spec = c.get("/openapi.json").json()
        for path in ("/v1/resolve", "/v1/resolve/batch"):
            assert spec["paths"][path]["post"]["security"] == [{"APIKey": []}]


def test_resolve_key_is_checked_before_the_record_is_validated(tmp_path, source):
    settings = make_settings(tmp_path, resolve_requires_key=True)
    with TestClient(create_app(settings, policy_source=source)) as c:
        r = c.post("/v1/resolve", json={"record_id": "x"}, headers={"X-API-Key": "nope" * 6})
        assert r.status_code == 403 and r.json()["field"] == "X-API-Key"
        assert "nope" not in r.text
        r = c.post("/v1/resolve", json={"record_id": "x", "countyr": "DE"})
        assert r.status_code == 401  # the key first, then the record's fields
        r = c.post("/v1/resolve/batch", json={"records": [{"record_id": "x"}]})
        assert r.status_code == 401
        assert DecisionStore.from_url(settings.store_url).count_decisions("crm") == 0


def test_a_user_middleware_sees_every_resolve(tmp_path, source):
    """Resolve goes through the whole stack: middleware added to the app sees its answers."""
    seen: list[tuple[str, int]] = []

    class Recorder:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            async def recording(message):
                if message["type"] == "http.response.start":
                    seen.append((scope["path"], message["status"]))
                await send(message)

            await self.app(scope, receive, recording)

    app = create_app(make_settings(tmp_path), policy_source=source)
    app.add_middleware(Recorder)
    with TestClient(app) as c:
        assert c.post("/v1/resolve", json={"record_id": "m1"}).status_code == 200
        assert c.post("/v1/resolve", json={"record_id": "m2", "countyr": "x"}).status_code == 422
    assert seen == [("/v1/resolve", 200), ("/v1/resolve", 422)]


def test_post_ping_validates_the_record_and_logs_nothing(client, tmp_path):
    r = client.post("/v1/ping", json={"record_id": "p1", "country": "DE"})
    assert r.status_code == 200 and r.json() == {"ok": True}
    r = client.post("/v1/ping", json={"record_id": "p1", "countyr": "DE"})
    assert r.status_code == 422 and "Did you mean 'country'" in r.json()["detail"]
    assert client.get("/v1/ping").json() == {"ok": True}
    assert client.post("/v1/ping", content=b"x" * 2_000_000).status_code == 413
    store = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    assert store.count_decisions("crm") == 0
