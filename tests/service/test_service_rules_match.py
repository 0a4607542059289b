"""Issue 14: the service refuses a policy whose rules differ from the served rule file.

A rules.yaml cut short elsewhere was promoted and hot-reloaded by a service whose own folder
still had every rule. The served folder's rules are what operators read; a policy carrying other
rules is refused, naming the rules that differ, and the previous policy keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from autoresolve.model.domain import load_domain
from autoresolve.model.policy import default_rules
from autoresolve.service.app import create_app
from tests.service.test_service_app import KEY, FakePolicy, FakeSource, make_settings
from tests.support import CRM_DIR

SERVED = default_rules(load_domain(CRM_DIR))


@dataclass
class CutRules:
    """The first `keep` rules of the served file, as a truncated file would give them."""

    keep: int

    @property
    def rules(self) -> tuple:
        return SERVED.rules[: self.keep]

    @property
    def version(self) -> str:
        return f"cut-{self.keep}"


def _policy(version: str, rules) -> FakePolicy:
    p = FakePolicy(version)
    p.rules = rules
    return p


def test_a_policy_with_fewer_rules_than_the_served_file_is_refused(tmp_path):
    assert len(SERVED.rules) > 5
    source = FakeSource({"1": _policy("1", CutRules(5))})
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503
        r = c.post("/v1/resolve", json={"record_id": "x"})
        assert r.status_code == 503
        msg = r.json()["detail"]
        missing = [rule.id for rule in SERVED.rules[5:]]
        assert "differ from the served rule file" in msg and missing[0] in msg
        assert f"{len(missing)} missing" in msg


def test_a_truncated_challenger_does_not_replace_the_serving_policy(tmp_path):
    source = FakeSource({"1": _policy("1", SERVED), "2": _policy("2", CutRules(5))})
    with TestClient(create_app(make_settings(tmp_path), policy_source=source)) as c:
        assert c.post("/v1/resolve", json={"record_id": "x"}).json()["policy_version"] == "1"
        source.champion = "2"
        res = c.post("/v1/admin/reload", headers={"X-API-Key": KEY}).json()
        assert res["result"].startswith("refused: version 2") and "missing" in res["result"]
        assert c.post("/v1/resolve", json={"record_id": "y"}).json()["policy_version"] == "1"
