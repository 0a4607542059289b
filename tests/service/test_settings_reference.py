"""The configuration reference is generated from the settings model and committed up to date;
API keys are secrets: never in a repr, a str, a log line or an answer."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from autoresolve.service.app import create_app
from autoresolve.service.cli import app as cli
from autoresolve.service.config_reference import (
    REFERENCE_PATH,
    _row,
    env_name,
    reference_markdown,
)
from autoresolve.service.settings import Settings
from tests.service.test_service_app import FakeSource, make_settings
from tests.support import ROOT

SECRET = "s3cret-key-never-shown-0123456789"


def test_committed_reference_is_the_generated_one():
    committed = (ROOT / REFERENCE_PATH).read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/configuration.md is stale: run "
        "`autoresolve config reference --output docs/configuration.md`"
    )


def test_every_setting_has_its_row():
    text = reference_markdown()
    for name in Settings.model_fields:
        assert f"| `{env_name(name)}` |" in text
    assert "| `AUTORESOLVE_API_KEYS` | secret | (none) |" in text


def test_a_setting_without_description_is_refused_by_name():
    with pytest.raises(ValueError, match="setting 'undocumented' has no description"):
        _row("undocumented", FieldInfo(annotation=int, default=1))


def test_cli_check_names_a_stale_file(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n")
    r = CliRunner().invoke(cli, ["config", "reference", "--output", str(stale), "--check"])
    assert r.exit_code == 1 and "differs from the settings model" in r.output
    assert CliRunner().invoke(cli, ["config", "reference", "--output", str(stale)]).exit_code == 0
    r = CliRunner().invoke(cli, ["config", "reference", "--output", str(stale), "--check"])
    assert r.exit_code == 0 and stale.read_text() == reference_markdown()


def test_keys_are_secret_in_repr_str_and_dumps():
    other = "another-key-0123456789"
    s = Settings(
        env="test", api_keys=f"{SECRET},{other}", database_url="postgresql://u:pw-123@db/x"
    )
    assert s.keys == (SECRET, other)
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert SECRET not in shown
    assert "pw-123" not in repr(s) and "pw-123" not in str(s)


def test_a_refused_setting_does_not_quote_the_keys():
    for bad in ({"api_keys": "short-key-x"}, {"api_keys": "short-key-x", "max_body_bytes": 3}):
        with pytest.raises(ValueError) as err:
            Settings(env="production", **bad)
        assert "short-key-x" not in str(err.value)
        assert "AUTORESOLVE_API_KEYS" in str(err.value) or "max_body_bytes" in str(err.value)


def test_keys_never_reach_logs_or_answers(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, api_keys=SECRET)
    with TestClient(create_app(settings, policy_source=FakeSource())) as c:
        answers = [
            c.get("/v1/policy").text,
            c.get("/openapi.json").text,
            c.get("/readyz").text,
            c.get("/metrics").text,
            c.get("/v1/deferred", headers={"X-API-Key": SECRET + "x"}).text,
            c.post("/v1/admin/reload", headers={"X-API-Key": SECRET}).text,
        ]
    for text in [*answers, caplog.text]:
        assert SECRET not in text
