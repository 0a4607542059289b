"""Where resolutions are needed before training data is read, for a domain.yaml that lists none:
rule checks, label files, label requests. They come from the champion, else the data file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import LEARNABLE_FIELDS, learnable_records

RULES = (
    'rules:\n  - id: big-t07\n    when: team == "T07" and size > 200\n    then: escalate\n'
    "    examples:\n      - {record: {team: T07, size: 500}, expect: escalate}\n"
)


def _domain(folder: Path, *, data: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = {
        "name": "tickets",
        "id": "record_id",
        "label": "resolution",
        "time": "created_at",
        "fields": {k: v for k, v in LEARNABLE_FIELDS.items() if k != "created_at"},
    }
    if data:
        learnable_records(3000, seed=3).to_csv(folder / "history.csv", index=False)
        raw["data"] = "history.csv"
    (folder / "domain.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (folder / "rules.yaml").write_text(RULES)
    return folder


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    result.text = " ".join(result.output.split())
    return result


def test_without_champion_nor_data_the_refusal_says_what_to_do(
    isolated_home: Path, tmp_path: Path
) -> None:
    dom = _domain(tmp_path / "d", data=False)
    (tmp_path / "labels.csv").write_text("record_id,resolution\nr1,close\n")
    r = _run("label", "--domain", str(dom), "--input", str(tmp_path / "labels.csv"))
    assert r.exit_code == 1
    assert "lists no resolutions" in r.text and "autoresolve train" in r.text, r.text


def test_rules_and_labels_before_and_after_training(isolated_home: Path, tmp_path: Path) -> None:
    dom = _domain(tmp_path / "d", data=True)
    before = _run("rules", "test", "--domain", str(dom))  # from the data file's labels
    assert before.exit_code == 0, before.text
    assert _run("train", "--domain", str(dom), "--json").exit_code == 0

    good = tmp_path / "good.csv"
    good.write_text("record_id,resolution\nr00001,close\nr00002,escalate\n")
    r = _run("label", "--domain", str(dom), "--input", str(good))
    assert r.exit_code == 0, r.text
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,resolution\nr00003,closed\n")
    r = _run("label", "--domain", str(dom), "--input", str(bad))
    assert r.exit_code == 1 and "closed" in r.text and "close" in r.text, r.text

    from autoresolve.service.app import create_app
    from autoresolve.service.settings import load_settings

    with TestClient(create_app(load_settings(domain=dom, api_keys="k" * 24))) as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        enum = schema["TicketsLabel"]["properties"]["resolution"]["enum"]
        assert set(enum) == {"route_a", "route_b", "close", "escalate"}
        h = {"X-API-Key": "k" * 24}
        ok = client.post("/v1/labels", json={"record_id": "r9", "resolution": "close"}, headers=h)
        assert ok.status_code == 200, ok.text
        no = client.post("/v1/labels", json={"record_id": "r9", "resolution": "clos"}, headers=h)
        assert no.status_code == 422


@pytest.fixture(autouse=True)
def _no_policy_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTORESOLVE_RELOAD_INTERVAL_S", "0")
