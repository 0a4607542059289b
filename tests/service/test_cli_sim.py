"""`autoresolve simulate` on tiny data: exit codes and the --json shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoresolve.service.cli import app
from tests.support import CRM_DIR


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("AUTORESOLVE_ENV", "development")
    monkeypatch.delenv("AUTORESOLVE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def _json(out: str) -> dict:
    return json.loads(out)  # stdout must hold only the JSON document


@pytest.mark.slow
def test_simulate_json_shape_from_a_data_file(env: Path) -> None:
    from autoresolve.model.generators.crm import generate

    data = env / "crm.csv"
    generate(3000, seed=5).to_csv(data, index=False)
    plot = env / "curve.png"
    r = CliRunner().invoke(
        app,
        [
            "simulate",
            "--domain",
            str(CRM_DIR),
            "--data",
            str(data),
            "--periods",
            "3",
            "--plot",
            str(plot),
            "--learned-rules",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = _json(r.stdout)
    assert {"periods", "baselines", "summary"} <= set(out)
    assert [p["period"] for p in out["periods"]] == [1, 2, 3]
    for p in out["periods"][1:]:
        assert {
            "period",
            "records",
            "autonomy",
            "model_precision",
            "rule_precision",
            "deferred",
            "promoted",
        } <= set(p)
        assert 0.0 <= p["autonomy"] <= 1.0
    assert set(out["baselines"]) == {"rules_only", "first_model", "learned_rules", "no_guard"}
    assert [b["period"] for b in out["baselines"]["learned_rules"]] == [2, 3]
    assert "learned_rules_last_autonomy" in out["summary"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert out["new_kinds"] == {}  # a plain file carries no case kinds
    assert out["guard"]["audit_rate"] == 0.02 and out["guard"]["looks_per_period"] == 10
    for p in out["periods"][1:]:
        assert {"threshold_start", "threshold_end", "state", "quarantined", "actions"} <= set(
            p["guard"]
        )
    assert "model_precision_interval_below_target" in out["summary"]["no_guard"]


@pytest.mark.slow
def test_simulate_table_on_the_generated_demo(env: Path) -> None:
    r = CliRunner().invoke(
        app,
        ["simulate", "--domain", str(CRM_DIR), "--rows", "2500", "--periods", "2",
         "--learned-rules"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "rules only" in r.stdout and "webinar_smb" in r.stdout
    assert "learned rules" in r.stdout
    assert "guarded: mean autonomy" in r.stdout and "no guard: mean autonomy" in r.stdout


def test_simulate_refuses_bad_usage(env: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", "--domain", str(env / "nowhere"), "--json"])
    assert r.exit_code == 2
    r = CliRunner().invoke(
        app, ["simulate", "--domain", str(CRM_DIR), "--split", "weekly", "--rows", "100"]
    )
    assert r.exit_code == 2
    r = CliRunner().invoke(
        app, ["simulate", "--domain", str(CRM_DIR), "--data", str(env / "missing.csv")]
    )
    assert r.exit_code == 1 and "missing.csv" in r.output
