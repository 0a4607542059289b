"""`autoresolve models list | promote | rollback`: @champion moved by hand, refused with the reason
whenever the gates would refuse, unless --force (then the reasons are recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from autoresolve.service.cli import app

RULES = (
    'rules:\n  - id: big-t07\n    when: team == "T07" and size > 200\n    then: escalate\n'
    "    examples:\n      - {record: {team: T07, size: 500}, expect: escalate}\n"
)


def history(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    """Tickets whose team settles the resolution but for 3% noise: a model certifies easily."""
    rng = np.random.default_rng(seed)
    team = rng.choice([f"T{i:02d}" for i in range(12)], n)
    label = np.array(["close", "route_a", "route_b", "escalate"], dtype=object)[
        [int(t[1:]) % 4 for t in team]
    ]
    noisy = rng.random(n) < 0.03
    label[noisy] = rng.choice(["close", "route_a", "route_b", "escalate"], noisy.sum())
    return pd.DataFrame(
        {
            "record_id": [f"r{i:05d}" for i in range(n)],
            "created_at": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            "team": team,
            "size": rng.integers(1, 1000, n).astype(float),
            "resolution": label,
        }
    )


def _run(*args: str, code: int | None = 0):
    result = CliRunner().invoke(app, list(args))
    result.text = " ".join(result.output.split())
    if code is not None:
        assert result.exit_code == code, result.text
    return result


@pytest.fixture
def domain(isolated_home: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "tickets"
    folder.mkdir()
    raw = {
        "name": "tickets",
        "id": "record_id",
        "label": "resolution",
        "time": "created_at",
        "data": "history.csv",
        "fields": {"team": "category", "size": "number"},
        "policy": {"target_precision": 0.9, "confidence": 0.8},
    }
    (folder / "domain.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (folder / "rules.yaml").write_text(RULES)
    df = history()
    df.to_csv(folder / "history.csv", index=False)
    noisy = df.assign(resolution=np.random.default_rng(0).permutation(df["resolution"]))
    noisy.to_csv(tmp_path / "noisy.csv", index=False)
    _run("train", "--domain", str(folder))
    return folder


def _versions(domain: Path) -> dict[str, dict]:
    out = json.loads(_run("models", "list", "--domain", str(domain), "--json").stdout)
    return {v["version"]: v for v in out["versions"]}


def test_promote_and_rollback_refuse_what_the_gates_refuse(domain: Path) -> None:
    d = str(domain)
    retrain = _run("retrain", "--domain", d, "--data", str(domain.parent / "noisy.csv"), code=1)
    assert "stays" in retrain.text
    listed = _versions(domain)
    assert listed["1"]["aliases"] == ["champion"] and listed["2"]["aliases"] == ["challenger"]
    assert listed["2"]["gate"] == "failed" and listed["1"]["rules"] == "current"

    refused = _run("models", "promote", "2", "--domain", d, code=1)
    assert "failed its retrain gates" in refused.text and "--force" in refused.text
    assert _versions(domain)["1"]["aliases"] == ["champion"]

    forced = json.loads(_run("models", "promote", "2", "--domain", d, "--force", "--json").stdout)
    assert forced["champion"] == "2" and forced["previous"] == "1" and forced["forced_past"]
    assert "forced past" in _versions(domain)["2"]["promoted"]

    back = json.loads(_run("models", "rollback", "--domain", d, "--json").stdout)
    assert back == {"domain": "tickets", "champion": "1", "previous": "2", "changed": True,
                    "forced_past": []}  # fmt: skip
    same = _run("models", "promote", "1", "--domain", d)
    assert "already @champion" in same.text


def test_a_version_certified_for_other_rules_is_refused(domain: Path) -> None:
    d = str(domain)
    _run("train", "--domain", d)  # version 2, same rules
    (domain / "rules.yaml").write_text(RULES.replace("size > 200", "size > 300"))
    assert _versions(domain)["2"]["rules"] != "current"
    refused = _run("models", "promote", "2", "--domain", d, code=1)
    assert "rule set" in refused.text and "autoresolve retrain" in refused.text


def test_nothing_to_roll_back_to_and_usage(domain: Path) -> None:
    d = str(domain)
    none = _run("models", "rollback", "--domain", d, code=1)
    assert "nothing to roll back to" in none.text
    assert _run("models", "promote", "two", "--domain", d, code=2).exit_code == 2
    missing = _run("models", "promote", "9", "--domain", d, code=1)
    assert "version 9" in missing.text and "Traceback" not in missing.text
