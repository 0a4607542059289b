"""`autoresolve train | resolve | retrain` end to end on small CRM data, in a temporary home."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model.domain import load_domain
from autoresolve.model.generators.crm import generate
from autoresolve.service.cli import app
from tests.support import CRM_DIR

DOMAIN_DIR = CRM_DIR
DOMAIN = load_domain(DOMAIN_DIR)
N = 15_000


def relaxed_domain(target: Path) -> Path:
    """The CRM domain with a target small data can certify (0.90 at confidence 0.80), so the
    model resolves some records in these tests whatever the estimator's details."""
    import shutil

    import yaml

    target.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load((DOMAIN_DIR / "domain.yaml").read_text())
    raw["policy"].update(target_precision=0.9, confidence=0.8)
    (target / "domain.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copy(DOMAIN_DIR / "rules.yaml", target / "rules.yaml")
    return target


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTORESOLVE_HOME", str(home))
    mp.setenv("AUTORESOLVE_ENV", "development")
    for var in (
        "MLFLOW_TRACKING_URI",
        "AUTORESOLVE_DATABASE_URL",
        "AUTORESOLVE_MLFLOW_TRACKING_URI",
    ):
        mp.delenv(var, raising=False)
    dom_dir = relaxed_domain(home / "crm")
    df = generate(N, seed=1)
    hist = home / "history.csv"
    df.to_csv(hist, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--domain", str(dom_dir), "--data", str(hist), "--json"])
    assert result.exit_code == 0, result.output
    yield {
        "home": home,
        "dom": str(dom_dir),
        "history": hist,
        "df": df,
        "runner": runner,
        "train": result,
    }
    mp.undo()


class Ran:
    """A CLI result with rich's line wrapping undone in `output`."""

    def __init__(self, result: Any):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.output = " ".join(result.output.split())


def run(env: dict[str, Any], *args: str) -> Ran:
    return Ran(env["runner"].invoke(app, [*args], catch_exceptions=False))


def test_train_prints_only_json_and_registers_champion(env: dict[str, Any]) -> None:
    out = json.loads(env["train"].stdout)
    assert out["version"] == "1" and out["champion"] is True
    assert out["threshold"] is not None, out["certificate"]["reason"]
    assert 0 < out["metrics"]["coverage"] <= 1
    assert out["certificate"]["target_precision"] == 0.9


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None for every kind of missing (NaN, pd.NA, None)."""
    return df.astype(object).map(lambda v: None if pd.isna(v) else v)


def _records(env: dict[str, Any], n: int) -> pd.DataFrame:
    return env["df"].tail(n).drop(columns=[DOMAIN.label]).reset_index(drop=True)


def test_resolve_csv_one_row_per_record_and_bad_rows_isolated(
    env: dict[str, Any], tmp_path: Path
) -> None:
    recs = _records(env, 300).astype(object)
    recs.loc[5, "employees"] = "lots"
    recs.loc[17, DOMAIN.id] = None
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    recs.to_csv(src, index=False)
    result = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
                 "--output", str(dst), "--chunk-rows", "128", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 300 and summary["invalid"] == 2
    out = pd.read_csv(dst, dtype={"record_id": str})
    assert len(out) == 300
    want_ids = recs[DOMAIN.id].tolist()
    got_ids = [None if pd.isna(x) else x for x in out["record_id"]]
    assert got_ids == want_ids
    bad = out.iloc[[5, 17]]
    assert (bad["outcome"] == "deferred").all() and (bad["defer_reason"] == "invalid").all()
    assert "employees" in bad["error"].iloc[0]
    good = out.drop(index=[5, 17])
    assert good["error"].isna().all()
    assert set(good["outcome"]) <= {"resolved", "deferred"}
    assert (out["policy_version"] == "crm:1").all()


def test_resolve_parquet_matches_in_process_policy(env: dict[str, Any], tmp_path: Path) -> None:
    from autoresolve.model import registry
    from autoresolve.model.batch import decision_table

    recs = _records(env, 400)
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    recs.to_parquet(src, index=False)
    result = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
                 "--output", str(dst))  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(dst)
    policy = registry.load_policy("crm")
    want = decision_table(policy.decide_frame(recs))
    cols = [c for c in want.columns if c != "decided_at"]
    pd.testing.assert_frame_equal(_plain(got[cols]), _plain(want[cols]))
    assert (got["source"] == "model").any(), "the sample should exercise the model"


def test_resolve_refusals(env: dict[str, Any], tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    _records(env, 5).to_csv(src, index=False)
    bad_suffix = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
                     "--output", str(tmp_path / "out.xlsx"))  # fmt: skip
    assert bad_suffix.exit_code == 1 and "unknown file type" in bad_suffix.output
    missing = run(env, "resolve", "--domain", env["dom"], "--input",
                  str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"))  # fmt: skip
    assert missing.exit_code == 1 and "no such input file" in missing.output
    no_version = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
                     "--output", str(tmp_path / "o.csv"), "--version", "99")  # fmt: skip
    assert no_version.exit_code == 1 and "version 99" in no_version.output
    assert "Traceback" not in no_version.output
    usage = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
                "--output", str(tmp_path / "o.csv"), "--engine", "dask")  # fmt: skip
    assert usage.exit_code == 2
    no_domain = run(env, "train", "--domain", str(tmp_path / "nodomain"))
    assert no_domain.exit_code == 1 and "no domain file" in no_domain.output


def test_resolve_logs_to_the_store_unless_dry_run(env: dict[str, Any], tmp_path: Path) -> None:
    """Batch decisions are audited like the service's: in the decision log, seen by `report`."""
    from autoresolve.service.settings import load_settings
    from autoresolve.service.store import DecisionStore

    def logged() -> int:
        store = DecisionStore.from_url(load_settings().store_url)
        store.migrate()
        try:
            return store.count_decisions(DOMAIN)
        finally:
            store.close()

    recs = _records(env, 50).astype(object)
    recs.loc[3, "employees"] = "lots"  # refused: in the output file, not in the log
    src = tmp_path / "in.csv"
    recs.to_csv(src, index=False)
    before = logged()
    dry = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
              "--output", str(tmp_path / "dry.csv"), "--no-log", "--json")  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["logged"] is None and logged() == before
    done = run(env, "resolve", "--domain", env["dom"], "--input", str(src),
               "--output", str(tmp_path / "out.csv"), "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["logged"] == 49 and logged() == before + 49
    report = run(env, "report", "--domain", env["dom"], "--json")
    assert report.exit_code == 0, report.output
    assert sum(a["records"] for a in json.loads(report.stdout)["autonomy"]) == before + 49


def test_unreachable_mlflow_store_is_one_clear_line(env: dict[str, Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"postgresql://u:pw@127.0.0.1:{port}/mlflow")
        result = run(env, "train", "--domain", env["dom"], "--data", str(env["history"]))
    assert result.exit_code == 1
    assert "unreachable" in result.output and "Traceback" not in result.output


def test_retrain_if_needed_without_news_does_nothing(env: dict[str, Any]) -> None:
    result = run(env, "retrain", "--domain", env["dom"], "--if-needed", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["retrained"] is False and "nothing to do" in out["reasons"][0]


def test_retrain_gate_fails_on_noise_and_champion_stays(
    env: dict[str, Any], tmp_path: Path
) -> None:
    noisy = env["df"].copy()
    noisy[DOMAIN.label] = np.random.default_rng(0).permutation(noisy[DOMAIN.label].to_numpy())
    path = tmp_path / "noisy.csv"
    noisy.to_csv(path, index=False)
    result = run(env, "retrain", "--domain", env["dom"], "--data", str(path), "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["retrained"] and not out["promoted"] and not out["gate"]["passed"]
    assert any("no certified threshold" in r for r in out["gate"]["reasons"])
    from autoresolve.model import registry

    assert registry.champion_version("crm") == "1"
    assert registry.version_info("crm", out["challenger_version"]).tags["autoresolve.gate"] == (
        "failed"
    )


def test_retrain_with_store_labels_applies_gates(env: dict[str, Any]) -> None:
    from autoresolve.model import registry
    from autoresolve.model.records import coerce_frame
    from autoresolve.service.settings import load_settings
    from autoresolve.service.store import DecisionStore

    store = DecisionStore.from_url(load_settings().store_url)
    store.migrate()
    labelled = coerce_frame(DOMAIN, env["df"].tail(240).reset_index(drop=True))
    policy = registry.load_policy("crm")
    records = labelled.drop(columns=[DOMAIN.label])
    decisions = policy.decide_frame(records).to_dict("records")
    raw = env["df"].tail(240).drop(columns=[DOMAIN.label]).astype(object)
    raw = raw.where(raw.notna(), None).to_dict("records")
    store.log_decisions(DOMAIN, decisions, raw)
    store.upsert_labels(DOMAIN, zip(labelled[DOMAIN.id], labelled[DOMAIN.label], strict=True))

    before = registry.champion_version("crm")
    result = run(env, "retrain", "--domain", env["dom"], "--if-needed",
                 "--min-new-labels", "100", "--json")  # fmt: skip
    out = json.loads(result.stdout)
    assert out["need"]["needed"] and out["need"]["new_labels"] == 240
    assert out["labels_in_store"] == 240 and out["window_records"] == 100
    assert "labelled" in out["window"]
    assert result.exit_code == (0 if out["gate"]["passed"] else 1)
    after = registry.champion_version("crm")
    assert after == (out["challenger_version"] if out["gate"]["passed"] else before)
    assert out["gate"]["champion"]["records"] == 100


def test_changed_rules_alone_recertify_without_refit(env: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    import yaml

    from autoresolve.model import registry

    dom_dir = tmp_path / "crm"
    dom_dir.mkdir()
    shutil.copy(Path(env["dom"]) / "domain.yaml", dom_dir / "domain.yaml")
    shutil.copy(Path(env["dom"]) / "rules.yaml", dom_dir / "rules.yaml")
    ordered = env["df"].sort_values(DOMAIN.time, kind="stable")
    early = tmp_path / "early.csv"
    ordered.head(10_000).to_csv(early, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTORESOLVE_HOME", str(tmp_path / "home"))
        assert run(env, "train", "--domain", str(dom_dir), "--data", str(early)).exit_code == 0
        raw = yaml.safe_load((dom_dir / "rules.yaml").read_text())
        gone = raw["rules"][-1]["id"]
        raw["rules"] = raw["rules"][:-1]  # operations retire the last rule
        (dom_dir / "rules.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        result = run(env, "retrain", "--domain", str(dom_dir), "--data", str(env["history"]),
                     "--if-needed", "--json")  # fmt: skip
        out = json.loads(result.stdout)  # a removed rule is refused unless meant (issue 14)
        assert result.exit_code == 1 and not out["gate"]["passed"] and not out["promoted"]
        assert any(gone in r and "--allow-removed-rules" in r for r in out["gate"]["reasons"])
        result = run(env, "retrain", "--domain", str(dom_dir), "--data", str(env["history"]),
                     "--if-needed", "--allow-removed-rules", "--json")  # fmt: skip
        out = json.loads(result.stdout)
        assert out["need"]["rules_changed"] and out["mode"] == "recertified", out
        assert result.exit_code == (0 if out["gate"]["passed"] else 1)
        challenger = registry.load_policy("crm", out["challenger_version"])
        champion = registry.load_policy("crm", out["champion_version"])
        assert challenger.rules.version != champion.rules.version
        assert challenger.estimator is not None and challenger.fingerprint == champion.fingerprint


def test_broken_rule_file_is_one_clear_line(env: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    dom_dir = tmp_path / "crm"
    dom_dir.mkdir()
    shutil.copy(Path(env["dom"]) / "domain.yaml", dom_dir / "domain.yaml")
    (dom_dir / "rules.yaml").write_text(
        "rules:\n  - id: bad\n    when: countyr == 'DE'\n    then: route_smb_queue\n"
    )
    result = run(env, "train", "--domain", str(dom_dir), "--data", str(env["history"]))
    assert result.exit_code == 1
    assert "countyr" in result.output and "Traceback" not in result.output


def _copy_domain(env: dict[str, Any], target: Path, hand_extra: str = "") -> Path:
    import shutil

    target.mkdir()
    shutil.copy(Path(env["dom"]) / "domain.yaml", target / "domain.yaml")
    text = (Path(env["dom"]) / "rules.yaml").read_text()
    (target / "rules.yaml").write_text(text + hand_extra)
    return target


BAD_HAND_RULE = """
  - id: duplicates-are-spam
    when: error_code == "DUPLICATE_SUSPECT"
    then: disqualify_spam
"""


def test_train_reports_an_unhealthy_rule_and_refuses_it_when_asked(
    env: dict[str, Any], tmp_path: Path
) -> None:
    dom_dir = _copy_domain(env, tmp_path / "crm", BAD_HAND_RULE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTORESOLVE_HOME", str(tmp_path / "home"))
        refused = run(env, "train", "--domain", str(dom_dir), "--data", str(env["history"]),
                      "--refuse-unhealthy-rules")  # fmt: skip
        assert refused.exit_code == 1
        assert "duplicates-are-spam" in refused.output and "below its bar" in refused.output
        assert "Traceback" not in refused.output
        done = run(env, "train", "--domain", str(dom_dir), "--data", str(env["history"]), "--json")
        assert done.exit_code == 0, done.output
        health = json.loads(done.stdout)["rule_health"]
        assert health["unhealthy"] == ["duplicates-are-spam"]
        bad = next(r for r in health["rules"] if r["rule_id"] == "duplicates-are-spam")
        assert bad["wrong"] and all(
            w["fields"] == {"error_code": "DUPLICATE_SUSPECT"} for w in bad["wrong"]
        )


LEARNED = """rules:
  - id: learned-spam-duplicates
    when: error_code == "DUPLICATE_SUSPECT"
    then: disqualify_spam
    learned: {at: '2025-06-01T00:00:00Z', precision: {bar: 0.9}}
  - id: learned-enrich
    when: error_code == "ENRICHMENT_FAILED" and is_free_email is null
    then: enrich_company_data
    learned: {at: '2025-06-01T00:00:00Z', precision: {bar: 0.9}}
"""


def test_retrain_retires_a_learned_rule_below_its_bar_and_the_gates_decide(
    env: dict[str, Any], tmp_path: Path
) -> None:
    import yaml

    dom_dir = _copy_domain(env, tmp_path / "crm")
    hand_before = (dom_dir / "rules.yaml").read_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTORESOLVE_HOME", str(tmp_path / "home"))
        assert (
            run(env, "train", "--domain", str(dom_dir), "--data", str(env["history"])).exit_code
            == 0
        )
        (dom_dir / "rules.learned.yaml").write_text(LEARNED)
        result = run(env, "retrain", "--domain", str(dom_dir), "--data", str(env["history"]),
                     "--if-needed", "--json")  # fmt: skip
        out = json.loads(result.stdout)
        assert out["retired"] == ["learned-spam-duplicates"], out["rule_health"]
        doc = yaml.safe_load((dom_dir / "rules.learned.yaml").read_text())
        assert [r["id"] for r in doc["rules"]] == ["learned-enrich"]
        (record,) = doc["retired"]
        assert record["id"] == "learned-spam-duplicates" and "below its bar" in record["why"]
        assert record["learned_at"] == "2025-06-01T00:00:00Z" and record["retired_at"]
        assert (dom_dir / "rules.yaml").read_text() == hand_before  # never edited
        # the learned rule that stays is a new rule set: re-certified, and the gates decide
        assert out["need"]["rules_changed"] and out["retrained"]
        assert result.exit_code == (0 if out["gate"]["passed"] else 1)
        assert out["rule_health"]["unhealthy"] == []  # the job's check, after retiring
