"""Errors as RFC 9457 problem details: each one's shape, its documentation in OpenAPI, 405 with
Allow, deep JSON, and the request examples taken from the domain's rule examples."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from autoresolve.model.domain import load_domain
from autoresolve.model.policy import default_rules
from autoresolve.service.app import create_app
from autoresolve.service.problems import KINDS, PROBLEM_JSON
from autoresolve.service.schemas import ProblemDetail
from tests.service.test_service_app import KEY, FakeSource, make_settings
from tests.support import CRM_DIR

H = {"X-API-Key": KEY}
DEEP = "[" * 100_000 + "]" * 100_000
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(tmp_path):
    app = create_app(make_settings(tmp_path, max_body_bytes=1_000_000), policy_source=FakeSource())
    with TestClient(app) as c:
        yield c


# (method, path, request kwargs, status, problem kind)
CASES = [
    ("post", "/v1/resolve", {"json": {"record_id": "x", "countyr": "DE"}}, 422, "invalid-request"),
    ("post", "/v1/resolve", {"content": "{", "headers": JSON}, 422, "invalid-request"),
    ("post", "/v1/resolve/batch", {"content": DEEP, "headers": JSON}, 422, "invalid-request"),
    ("post", "/v1/resolve/batch", {"json": {"records": []}}, 422, "invalid-request"),
    ("post", "/v1/labels", {"content": DEEP, "headers": JSON | H}, 422, "invalid-request"),
    ("post", "/v1/labels", {"json": {"record_id": "a", "resolution": "x"}}, 401, "unauthorized"),
    (
        "post",
        "/v1/labels",
        {"json": {"record_id": "a", "resolution": "x"}, "headers": {"X-API-Key": "nope"}},
        403,
        "forbidden",
    ),
    (
        "post",
        "/v1/labels",
        {"json": {"record_id": "a", "resolution": "merge_dupe"}, "headers": H},
        422,
        "invalid-request",
    ),
    ("get", "/v1/deferred?cursor=not-ours", {"headers": H}, 422, "invalid-request"),
    ("get", "/v1/deferred?limit=0", {"headers": H}, 422, "invalid-request"),
    ("get", "/v1/deferred", {}, 401, "unauthorized"),
    ("post", "/v1/admin/reload", {}, 401, "unauthorized"),
    ("get", "/problems/no-such-kind", {}, 404, "not-found"),
]


@pytest.mark.parametrize(("method", "path", "kw", "status", "kind"), CASES)
def test_every_error_is_a_documented_problem(client, method, path, kw, status, kind):
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body = ProblemDetail.model_validate(r.json())
    assert (body.type, body.status, body.title) == (f"/problems/{kind}", status, KINDS[kind].title)
    assert body.detail and body.instance == path.split("?")[0]
    spec = client.get("/openapi.json").json()
    documented = spec["paths"][_template(path)][method]["responses"]
    assert str(status) in documented, f"{method.upper()} {path} answers {status} undocumented"
    content = documented[str(status)]["content"]
    assert list(content) == [PROBLEM_JSON]
    assert content[PROBLEM_JSON]["schema"]["$ref"] == "#/components/schemas/ProblemDetail"


def _template(path: str) -> str:
    path = path.split("?")[0]
    return "/problems/{kind}" if path.startswith("/problems/") else path


def test_deep_json_says_what_is_wrong(client):
    for path in ("/v1/resolve/batch", "/v1/labels"):
        r = client.post(path, content=DEEP, headers=JSON | H)
        body = r.json()
        assert "nests deeper" in body["detail"] and body["errors"][0]["code"] == "json_too_deep"


def test_405_names_every_method_the_path_takes(client):
    r = client.delete("/v1/ping")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
    assert r.json()["type"] == "/problems/method-not-allowed" and "GET, POST" in r.json()["detail"]
    r = client.get("/v1/resolve")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_503_is_a_problem_with_retry_after(tmp_path):
    app = create_app(make_settings(tmp_path), policy_source=FakeSource(champion=None))
    with TestClient(app) as c:
        r = c.post("/v1/resolve", json={"record_id": "x"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json()["type"] == "/problems/not-ready"


def test_every_problem_type_resolves_to_its_description(client):
    for kind, spec in KINDS.items():
        about = client.get(f"/problems/{kind}").json()
        assert about == {
            "type": f"/problems/{kind}",
            "status": spec.status,
            "title": spec.title,
            "description": spec.about,
        }


def test_errors_are_counted_by_kind(client):
    client.get("/v1/deferred")
    client.delete("/v1/ping")
    text = client.get("/metrics").text
    assert 'autoresolve_errors_total{kind="unauthorized"} 1.0' in text
    assert 'autoresolve_errors_total{kind="method-not-allowed"} 1.0' in text


def test_request_examples_are_the_rule_examples_and_are_valid(client):
    spec = client.get("/openapi.json").json()
    rules = default_rules(load_domain(CRM_DIR))
    body = spec["paths"]["/v1/resolve"]["post"]["requestBody"]["content"]["application/json"]
    examples = body["examples"]
    assert set(examples) <= {r.id for r in rules} and len(examples) >= 3
    for rule_id, example in examples.items():
        rule = next(r for r in rules if r.id == rule_id)
        decided = client.post("/v1/resolve", json=example["value"])
        assert decided.status_code == 200, decided.text
        assert rule.note == example["description"]
    batch = spec["paths"]["/v1/resolve/batch"]["post"]["requestBody"]["content"]
    for example in batch["application/json"]["examples"].values():
        assert client.post("/v1/resolve/batch", json=example["value"]).status_code == 200
    labels = spec["paths"]["/v1/labels"]["post"]["requestBody"]["content"]
    for example in labels["application/json"]["examples"].values():
        assert client.post("/v1/labels", json=example["value"], headers=H).status_code == 200


def test_readme_lists_every_problem_kind():
    from tests.support import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for kind in KINDS:
        if kind != "http-error":
            assert f"`{kind}`" in readme, f"README's error table lacks {kind}"
