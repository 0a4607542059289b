"""`autoresolve retrain --if-needed` and the replay run one retraining job: fed the same labels,
they make the same decisions — need, mode, gate window, training data, gates, promotion.

The replay runs first; the CLI then lives the same year through its own IO: a history file and
labels in the decision store for period 1, the champion trained by `autoresolve train`, then each
later period the records the replay decided logged as decisions and exactly the labels the replay
revealed stored as labels, and `retrain --if-needed`. A lookup policy stands in for
`train_policy` on both paths (it learns, registers and loads through MLflow in milliseconds).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.domain import load_domain
from autoresolve.service.cli import app
from tests.support import CRM_DIR

PERIODS = 5
SEED = 5
MIN_NEW_LABELS = 60
KEY = ("error_code", "lead_source")


def _keys(df: pd.DataFrame) -> np.ndarray:
    parts = [df[c].astype(object).where(df[c].notna(), "∅").astype(str) for c in KEY]
    return (parts[0] + "|" + parts[1]).to_numpy()


class LookupPolicy:
    """Resolves a record whose (error_code, lead_source) it saw at least 20 times, with that
    pair's most frequent label; defers the rest. Module-level so MLflow can pickle it."""

    def __init__(self, domain: Any, labelled: pd.DataFrame, rules: Any, version: str = "") -> None:
        self.domain, self.rules, self.version = domain, rules, version
        by_key = pd.DataFrame({"k": _keys(labelled), "y": labelled[domain.label].astype(str)})
        sizes = by_key["k"].value_counts()
        top = by_key.groupby("k")["y"].agg(lambda s: s.value_counts().index[0])
        self.known = {k: top[k] for k in sizes.index if sizes[k] >= 20}
        self.certificate = {"threshold": 0.5 if self.known else None, "reason": "lookup stub"}

    def with_version(self, version: str) -> LookupPolicy:
        out = object.__new__(LookupPolicy)
        out.__dict__.update(self.__dict__, version=version)
        return out

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "certificate": self.certificate}

    def decide_frame(self, df: pd.DataFrame, now: Any = None) -> pd.DataFrame:
        res = np.array([self.known.get(k) for k in _keys(df)], dtype=object)
        ok = np.array([r is not None for r in res])
        n = len(df)
        return pd.DataFrame(
            {
                "record_id": df[self.domain.id].astype(str).to_numpy(),
                "outcome": np.where(ok, "resolved", "deferred"),
                "resolution": res,
                "source": np.where(ok, "model", None),
                "rule_id": [None] * n,
                "confidence": np.where(ok, 0.9, np.nan),
                "threshold": 0.5,
                "defer_reason": np.where(ok, None, "low_confidence"),
                "candidates": [[] for _ in range(n)],
                "policy_version": self.version,
                "decided_at": datetime.now(UTC).isoformat(),
            },
            columns=list(DECISION_COLUMNS),
        )


class LookupReport:
    chosen, why = "lookup", "test stand-in for train_policy"

    def __init__(self, policy: LookupPolicy) -> None:
        self.certificate = policy.certificate
        self.metrics: dict[str, float] = {}
        self.params: dict[str, Any] = {}


def lookup_train(domain: Any, df: pd.DataFrame, seed: int, rules: Any) -> LookupPolicy:
    """The replay's `train`."""
    from autoresolve.model.policy import default_rules

    return LookupPolicy(domain, df, rules if rules is not None else default_rules(domain))


def lookup_train_policy(
    domain: Any, df: pd.DataFrame, *, seed: int = 0, rules: Any = None, **_: Any
) -> tuple[LookupPolicy, LookupReport]:
    """`train_policy`'s stand-in on the CLI's path."""
    policy = lookup_train(domain, df, seed, rules)
    return policy, LookupReport(policy)


@pytest.fixture(scope="module")
def year() -> pd.DataFrame:
    """CRM records whose label is a function of (error_code, lead_source), so the lookup is
    right when it knows a pair and learns the pairs that appear late (new codes, new sources);
    except that 40% of the labels from 40% to 55% of the year keep the generator's own label,
    so a challenger that learnt from them is refused by the window-precision gate."""
    from autoresolve.model.generators.crm import generate

    df = generate(3000, seed=3).sort_values("created_at", kind="stable").reset_index(drop=True)
    keys = pd.Series(_keys(df))
    majority = keys.map(df.groupby(keys)["resolution"].agg(lambda s: s.value_counts().index[0]))
    at = np.arange(len(df)) / len(df)
    noisy = (at >= 0.4) & (at < 0.55) & (np.random.default_rng(0).random(len(df)) < 0.4)
    df["resolution"] = np.where(noisy, df["resolution"].to_numpy(), majority.to_numpy())
    return df


def _raw(df: pd.DataFrame, domain: Any) -> list[dict[str, Any]]:
    """Records as a client sends them (JSON values), to log with their decisions."""
    recs = df.drop(columns=[domain.label]).astype(object)
    recs["created_at"] = df["created_at"].map(lambda t: t.isoformat())
    return recs.where(recs.notna(), None).to_dict("records")


def _store_period(store: Any, domain: Any, policy: Any, rows: pd.DataFrame, revealed: Any) -> None:
    """What a deployment's store holds after a period: every decision, and the labels it got."""
    records = rows.drop(columns=[domain.label])
    store.log_decisions(domain, policy.decide_frame(records).to_dict("records"), _raw(rows, domain))
    got = rows[rows[domain.id].astype(str).isin(set(revealed))]
    store.upsert_labels(domain, zip(got[domain.id], got[domain.label], strict=True))


def _cli(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _replay_decision(p: dict[str, Any]) -> dict[str, Any]:
    r = p["retrain"]
    return {
        "needed": r["needed"],
        "reasons": r["reasons"],
        "new_labels": r["new_labels"],
        "mode": r.get("mode"),
        "window_records": r.get("window"),
        "training_records": r.get("labels_trained"),
        "gates_passed": r.get("gates_passed"),
        "gate_reasons": r.get("gate_reasons"),
        "promoted": p["promoted"],
    }


def _cli_decision(out: dict[str, Any]) -> dict[str, Any]:
    need, gate = out["need"], out.get("gate") or {}
    return {
        "needed": need["needed"],
        "reasons": need["reasons"],
        "new_labels": need["new_labels"],
        "mode": out.get("mode"),
        "window_records": out.get("window_records"),
        "training_records": out.get("training_records"),
        "gates_passed": gate.get("passed"),
        "gate_reasons": gate.get("reasons"),
        "promoted": out["promoted"],
    }


def test_cli_and_replay_make_the_same_retraining_decisions(
    year: pd.DataFrame, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoresolve.model import train as train_module
    from autoresolve.model.simulate import RetrainPolicy, assign_periods, simulate
    from autoresolve.service.settings import load_settings
    from autoresolve.service.store import DecisionStore

    domain = load_domain(CRM_DIR)
    rp = RetrainPolicy(min_new_labels=MIN_NEW_LABELS)
    res = simulate(domain, year, PERIODS, audit_rate=0.05, seed=SEED, retrain_policy=rp,
                   train=lookup_train)  # fmt: skip
    replay = res.to_dict()["periods"]
    trained = [p for p in replay[1:-1] if p["retrain"]["trained"]]
    assert len(trained) == PERIODS - 2, "every replayed period but the last should retrain"
    assert [p["promoted"] for p in trained] == [True, False, True], "promote, refuse, promote"

    monkeypatch.setattr(train_module, "train_policy", lookup_train_policy)
    period = assign_periods(year, domain, PERIODS)
    first = year[period == 1]
    history = tmp_path / "history.parquet"
    first.to_parquet(history, index=False)
    store = DecisionStore.from_url(load_settings().store_url)
    store.migrate()
    _store_period(store, domain, lookup_train(domain, first, 0, None), first, first[domain.id])
    runner = CliRunner()
    dom = str(CRM_DIR)
    trained_cli = _cli(runner, "train", "--domain", dom, "--data", str(history), "--json")
    assert trained_cli.exit_code == 0, trained_cli.output

    from autoresolve.model import registry

    for k in range(2, PERIODS):
        champion = registry.load_policy(domain.name, "champion")
        _store_period(store, domain, champion, year[period == k], res.revealed[k])
        ran = _cli(runner, "retrain", "--domain", dom, "--data", str(history), "--if-needed",
                   "--min-new-labels", str(MIN_NEW_LABELS), "--seed", str(SEED + k),
                   "--json")  # fmt: skip
        out = json.loads(ran.stdout)
        assert ran.exit_code == (0 if out["promoted"] else 1), ran.output
        assert _cli_decision(out) == _replay_decision(replay[k - 1]), f"period {k}"
        assert out["mode"] == "refit"  # the rule set never changes in a replay


def test_the_commands_default_to_the_jobs_settings() -> None:
    """`retrain`'s and `simulate`'s flags keep literal defaults (a fast --help); they must be the
    job's own."""
    import typer

    from autoresolve.model.retraining import JobSettings

    commands = typer.main.get_command(app).commands
    job = JobSettings()
    retrain = {p.name: p.default for p in commands["retrain"].params}
    assert (retrain["min_new_labels"], retrain["psi_bar"], retrain["tolerance"]) == (
        job.min_new_labels,
        job.psi_bar,
        job.tolerance,
    )
    simulate = {p.name: p.default for p in commands["simulate"].params}
    assert (simulate["min_new_labels"], simulate["window_fraction"]) == (
        job.min_new_labels,
        job.window_fraction,
    )
