"""`autoresolve label`: CSV and JSON imports into the store; refusals change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app
from autoresolve.service.store import DecisionStore
from tests.support import CRM_DIR

CRM = CRM_DIR


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path))
    monkeypatch.setenv("AUTORESOLVE_ENV", "development")
    monkeypatch.delenv("AUTORESOLVE_DATABASE_URL", raising=False)
    return tmp_path


def labels_in(home: Path) -> dict[str, str]:
    store = DecisionStore.from_url(f"sqlite:///{home / 'autoresolve.db'}")
    with store.engine.connect() as c:
        rows = c.exec_driver_sql("select record_id, resolution from labels").all()
    store.close()
    return dict(rows)


def run(*args: str):
    return CliRunner().invoke(app, ["label", "--domain", str(CRM), *args])


def test_csv_then_json_import_is_idempotent(env):
    csv = env / "labels.csv"
    csv.write_text("record_id,resolution\nr1,merge_duplicate\nr2,route_smb_queue\n")
    r = run("--input", str(csv), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "file": str(csv),
        "labels": 2,
        "skipped_without_resolution": 0,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "unknown": 2,  # labels before any decision: said so (issue 14)
        "unknown_record_ids": ["r1", "r2"],
        "repeated": 0,
        "repeated_record_ids": [],
    }
    js = env / "labels.json"
    js.write_text(
        json.dumps(
            [
                {"record_id": "r1", "resolution": "merge_duplicate"},
                {"record_id": "r2", "resolution": "nurture_marketing"},
            ]
        )
    )
    r = run("--input", str(js), "--json")
    assert json.loads(r.stdout)["updated"] == 1 and json.loads(r.stdout)["unchanged"] == 1
    assert labels_in(env) == {"r1": "merge_duplicate", "r2": "nurture_marketing"}


def test_domain_column_names_are_accepted(env):
    csv = env / "export.csv"
    csv.write_text("record_id,resolution,extra\nx9,disqualify_spam,ignored\n")
    assert run("--input", str(csv)).exit_code == 0
    assert labels_in(env) == {"x9": "disqualify_spam"}


def test_unknown_resolution_refuses_the_whole_file(env):
    csv = env / "bad.csv"
    csv.write_text("record_id,resolution\nok,merge_duplicate\nbad,merge_dupe\n")
    r = run("--input", str(csv))
    assert r.exit_code == 1
    assert "merge_dupe" in r.output and "merge_duplicate" in r.output
    assert "Nothing was imported" in r.output
    assert labels_in(env) == {}


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("nocols.csv", "id,label\n1,x\n", "needs columns"),
        ("broken.json", "[{", "cannot read"),
        ("labels.txt", "x", "unsupported file type"),
    ],
)
def test_unreadable_files_are_refused_clearly(env, name, content, words):
    f = env / name
    f.write_text(content)
    r = run("--input", str(f))
    assert r.exit_code in (1, 2) and words in r.output


def test_missing_file(env):
    r = run("--input", str(env / "nope.csv"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_rows_without_a_resolution_are_skipped_and_counted(env):
    f = env / "export.csv"
    f.write_text("record_id,resolution\nr1,merge_duplicate\nr2,\nr3,  \n")
    r = run("--input", str(f), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["labels"] == 1 and out["skipped_without_resolution"] == 2
    assert labels_in(env) == {"r1": "merge_duplicate"}
