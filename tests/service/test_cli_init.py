"""`autoresolve init DIR --data FILE --label COLUMN`: a folder `train` accepts without an edit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import ticket_export


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    result.text = " ".join(result.output.split())
    return result


def test_init_then_train_without_an_edit(isolated_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    ticket_export(3000).to_csv(data, index=False)
    target = tmp_path / "tickets"
    r = _run("init", str(target), "--data", str(data), "--label", "queue", "--json")
    assert r.exit_code == 0, r.text
    out = json.loads(r.stdout)
    assert out["id"] == "Ticket ID" and out["time"] == "opened" and out["name"] == "tickets"
    assert {"closed", "handled_by", "refund", "final_queue", "agent_note"} <= set(out["leaks"])
    assert "channel" in out["left_out"] and "channel" not in out["leaks"]
    assert (target / "domain.yaml").is_file() and (target / "rules.yaml").is_file()

    trained = _run("train", "--domain", str(target), "--json")
    assert trained.exit_code == 0, trained.text
    assert json.loads(trained.stdout)["version"] == "1"
    checked = _run("rules", "test", "--domain", str(target))
    assert checked.exit_code == 0, checked.text


def test_init_prints_what_to_run_next(isolated_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    ticket_export(1500).to_csv(data, index=False)
    r = _run("init", str(tmp_path / "t"), "--data", str(data), "--label", "queue", "--no-suggest")
    assert r.exit_code == 0, r.text
    assert "left out closed:" in r.text
    for step in ("autoresolve train", "autoresolve resolve", "autoresolve label"):
        assert step in r.text


def test_init_refusals(isolated_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    ticket_export(500).to_csv(data, index=False)
    usage = _run("init", str(tmp_path / "a"))
    assert usage.exit_code == 2 and "--data FILE --label COLUMN" in usage.text
    no_label = _run("init", str(tmp_path / "a"), "--data", str(data))
    assert no_label.exit_code == 2 and "--label" in no_label.text
    typo = _run("init", str(tmp_path / "a"), "--data", str(data), "--label", "queu")
    assert typo.exit_code == 1 and "Did you mean 'queue'" in typo.text
    missing = _run("init", str(tmp_path / "a"), "--data", str(tmp_path / "no.csv"), "--label", "q")
    assert missing.exit_code == 1 and "no such data file" in missing.text
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "domain.yaml").write_text("name: mine\n")
    clash = _run("init", str(tmp_path / "b"), "--data", str(data), "--label", "queue")
    assert clash.exit_code == 1 and "nothing was overwritten" in clash.text
    assert (tmp_path / "b" / "domain.yaml").read_text() == "name: mine\n"
    assert "Traceback" not in typo.text + missing.text + clash.text
