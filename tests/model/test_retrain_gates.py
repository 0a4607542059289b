"""Promotion gates, the --if-needed trigger and PSI drift, on constructed cases (no training)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.domain import load_domain
from autoresolve.model.drift import PSI_BAR, drift, drifted, psi, summarize
from autoresolve.model.retrain import (
    MAX_WINDOW,
    evaluate_gates,
    retrain_needed,
    split_recent_window,
    window_stats,
)
from tests.support import CRM_DIR

DOMAIN = load_domain(CRM_DIR)
LABEL = DOMAIN.label


@dataclass
class Scripted:
    """A policy whose decisions are scripted per record id: (outcome, resolution, source)."""

    script: dict[str, tuple[str, str | None, str | None]]
    certificate: dict[str, Any] = field(default_factory=lambda: {"threshold": 0.8, "reason": ""})
    domain: Any = DOMAIN

    def decide_frame(self, df: pd.DataFrame, now: Any = None) -> pd.DataFrame:
        rows = []
        for rid in df[DOMAIN.id].astype(str):
            outcome, res, src = self.script[rid]
            rows.append(
                {
                    "record_id": rid,
                    "outcome": outcome,
                    "resolution": res,
                    "source": src,
                    "defer_reason": None if outcome == "resolved" else "low_confidence",
                }
            )
        return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def _window(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {DOMAIN.id: [f"r{i}" for i in range(n)], LABEL: ["merge_duplicate"] * n, "country": "DE"}
    )


def _script(n: int, *, resolved: int, wrong: int = 0, source: str = "model"):
    out = {}
    for i in range(n):
        if i < resolved:
            res = "route_smb_queue" if i < wrong else "merge_duplicate"
            out[f"r{i}"] = ("resolved", res, source)
        else:
            out[f"r{i}"] = ("deferred", None, None)
    return out


def test_gates_pass_when_challenger_is_certified_precise_and_covers_more() -> None:
    w = _window(200)
    champ = Scripted(_script(200, resolved=100))
    chall = Scripted(_script(200, resolved=150, wrong=2))
    result = evaluate_gates(chall, champ, w, tolerance=0.02)
    assert result.passed, result.reasons
    assert result.challenger.coverage == pytest.approx(0.75)
    assert result.champion is not None and result.champion.coverage == pytest.approx(0.5)
    assert result.challenger.model_precision == pytest.approx(148 / 150)


def test_gate_fails_without_certificate() -> None:
    w = _window(200)
    chall = Scripted(
        _script(200, resolved=0),
        certificate={"threshold": None, "reason": "no candidate threshold holds"},
    )
    result = evaluate_gates(chall, Scripted(_script(200, resolved=0)), w)
    assert not result.passed
    assert any("no certified threshold" in r and "no candidate" in r for r in result.reasons)


def test_gate_fails_when_window_precision_is_significantly_below_target() -> None:
    w = _window(200)
    chall = Scripted(_script(200, resolved=150, wrong=30))  # 80% precision, target 95%
    result = evaluate_gates(chall, Scripted(_script(200, resolved=100)), w)
    assert not result.passed
    assert any("significantly below" in r for r in result.reasons)


def test_small_precision_shortfall_is_not_significant() -> None:
    w = _window(200)
    chall = Scripted(_script(200, resolved=20, wrong=2))  # 90% on 20 records: not significant
    result = evaluate_gates(chall, None, w)
    assert result.passed, result.reasons
    assert result.challenger.model_precision_upper >= DOMAIN.policy.target_precision


def test_gate_fails_on_coverage_below_champion_minus_tolerance() -> None:
    w = _window(200)
    champ = Scripted(_script(200, resolved=100))
    within = evaluate_gates(Scripted(_script(200, resolved=97)), champ, w, tolerance=0.02)
    assert within.passed, within.reasons  # 0.485 ≥ 0.5 - 0.02
    below = evaluate_gates(Scripted(_script(200, resolved=95)), champ, w, tolerance=0.02)
    assert not below.passed
    assert any(r.startswith("coverage") and "below the bar" in r for r in below.reasons)


def test_coverage_is_compared_on_recent_traffic_when_given() -> None:
    # The labelled window holds the champion's deferrals (r0-r99); the traffic also holds what the
    # champion resolves (t0-t299). A challenger that drops most of that passes on the window
    # alone and is refused on the traffic.
    window = _window(100)
    traffic = pd.DataFrame({DOMAIN.id: [f"t{i}" for i in range(300)], "country": "DE"})
    champ_script = {**_script(100, resolved=0)}
    champ_script.update({f"t{i}": ("resolved", "merge_duplicate", "model") for i in range(300)})
    chall_script = {**_script(100, resolved=10)}
    chall_script.update(
        {
            f"t{i}": ("resolved" if i < 150 else "deferred", "merge_duplicate", "model")
            for i in range(300)
        }
    )
    champ, chall = Scripted(champ_script), Scripted(chall_script)
    assert evaluate_gates(chall, champ, window).passed
    result = evaluate_gates(chall, champ, window, traffic=traffic)
    assert not result.passed
    assert result.traffic_coverage == {"records": 300.0, "challenger": 0.5, "champion": 1.0}
    assert any("unlabelled traffic" in r and "below the bar" in r for r in result.reasons)


def test_rule_resolutions_count_for_coverage_not_model_precision() -> None:
    w = _window(100)
    chall = Scripted(_script(100, resolved=60, wrong=60, source="rule"))
    result = evaluate_gates(chall, None, w)
    assert result.challenger.coverage == pytest.approx(0.6)
    assert result.challenger.model_resolved == 0
    assert result.passed  # model gate has no evidence; rule quality is the rule lint's job


def test_per_class_certificate_counts_as_certified() -> None:
    w = _window(10)
    cert = {"threshold": None, "thresholds": {"a": None, "b": 0.91}}
    assert evaluate_gates(Scripted(_script(10, resolved=0), cert), None, w).passed


def test_window_stats_counts() -> None:
    d = pd.DataFrame(
        {
            "outcome": ["resolved", "resolved", "deferred", "resolved"],
            "resolution": ["a", "b", None, "a"],
            "source": ["rule", "model", None, "model"],
        }
    )
    s = window_stats(d, pd.Series(["a", "a", "a", "a"]), 0.9)
    assert (s.records, s.resolved, s.model_resolved, s.model_correct) == (4, 3, 2, 1)
    assert s.precision == pytest.approx(2 / 3)


def test_split_recent_window_takes_newest_and_keeps_disjoint() -> None:
    df = pd.DataFrame({"t": np.arange(1000)[::-1], "x": np.arange(1000)})
    older, window = split_recent_window(df, order_by="t", fraction=0.25, min_records=100)
    assert len(window) == 250 and len(older) == 750
    assert window["t"].min() > older["t"].max()
    small_old, small_win = split_recent_window(df.head(50), order_by="t", min_records=100)
    assert len(small_win) == 25 and len(small_old) == 25


def test_split_recent_window_is_capped_so_recent_labels_reach_training() -> None:
    df = pd.DataFrame({"t": np.arange(20_000), "x": 0})
    older, window = split_recent_window(df, order_by="t")
    assert len(older) == 19_000
    assert len(window) == MAX_WINDOW == 1_000 and window["t"].min() == 19_000
    _, uncapped = split_recent_window(df, order_by="t", max_records=None)
    assert len(uncapped) == 5_000


def test_retrain_needed_triggers_and_nothing_to_do() -> None:
    idle = retrain_needed(
        new_labels=10,
        min_new_labels=200,
        drift_scores={"country": 0.05},
        psi_bar=0.2,
        champion_rules_version="abc",
        rules_version="abc",
    )
    assert not idle.needed and "nothing to do" in idle.reasons[0]
    labels = retrain_needed(
        new_labels=250,
        min_new_labels=200,
        drift_scores={},
        psi_bar=0.2,
        champion_rules_version="abc",
        rules_version="abc",
    )
    assert labels.needed and "250 new labels" in labels.reasons[0]
    drift_ = retrain_needed(
        new_labels=0,
        min_new_labels=200,
        drift_scores={"country": 0.5, "x": 0.01},
        psi_bar=0.2,
        champion_rules_version="abc",
        rules_version="abc",
    )
    assert drift_.needed and list(drift_.drifted) == ["country"]
    rules = retrain_needed(
        new_labels=0,
        min_new_labels=200,
        drift_scores={},
        psi_bar=0.2,
        champion_rules_version="abc",
        rules_version="def",
    )
    assert rules.needed and rules.rules_changed


def test_psi_zero_on_same_and_large_on_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    assert psi([0.9, 0.1], [0.1, 0.9]) > 1.0


def test_drift_detects_shifted_fields_only() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    train = pd.DataFrame(
        {
            "employees": rng.lognormal(4, 1, n),
            "country": rng.choice(["US", "DE", "FR", None], n, p=[0.5, 0.3, 0.15, 0.05]),
            "is_free_email": rng.choice([True, False], n),
        }
    )
    types = {"employees": "number", "country": "category", "is_free_email": "boolean"}
    summary = summarize(types, train)
    same = pd.DataFrame(
        {
            "employees": rng.lognormal(4, 1, n),
            "country": rng.choice(["US", "DE", "FR", None], n, p=[0.5, 0.3, 0.15, 0.05]),
            "is_free_email": rng.choice([True, False], n),
        }
    )
    shifted = same.assign(employees=rng.lognormal(6, 1, n), country=rng.choice(["BR", "IN"], n))
    stable = drift(summary, same)
    assert max(stable.values()) < 0.05
    moved = drifted(drift(summary, shifted), PSI_BAR)
    assert set(moved) == {"employees", "country"}
    assert drift(summary, same.head(0)) == {}


def test_coverage_an_unsound_rule_gave_the_champion_does_not_count() -> None:
    """Retiring a rule shown below its bar always lowers coverage; the gate must not hold the
    bad rule in place."""
    w = _window(200)
    script = _script(200, resolved=100)
    script.update({f"r{i}": ("resolved", "route_smb_queue", "rule") for i in range(100, 140)})
    decided = Scripted(script).decide_frame(w)
    decided["rule_id"] = ["bad-rule" if 100 <= i < 140 else None for i in range(200)]
    champ = Scripted(script)
    champ.decide_frame = lambda df, now=None: decided.copy()  # type: ignore[method-assign]
    chall = Scripted(_script(200, resolved=100))  # the same without the bad rule
    refused = evaluate_gates(chall, champ, w, tolerance=0.02)
    assert not refused.passed and refused.champion.coverage == pytest.approx(0.7)
    kept = evaluate_gates(chall, champ, w, tolerance=0.02, unsound_rules=("bad-rule",))
    assert kept.passed, kept.reasons
    assert kept.champion.coverage == pytest.approx(0.5)


@dataclass
class _Rule:
    id: str


@dataclass
class _Rules:
    rules: tuple


def test_rules_gate_names_rules_that_disappeared_and_needs_the_flag() -> None:
    w = _window(200)
    champ = Scripted(_script(200, resolved=100))
    chall = Scripted(_script(200, resolved=150))
    champ.rules = _Rules(tuple(_Rule(i) for i in ("a", "b", "c", "d")))  # type: ignore[attr-defined]
    chall.rules = _Rules((_Rule("a"), _Rule("c")))  # type: ignore[attr-defined]
    refused = evaluate_gates(chall, champ, w)
    assert not refused.passed
    line = next(r for r in refused.reasons if r.startswith("rules:"))
    assert "b, d" in line and "--allow-removed-rules" in line
    assert evaluate_gates(chall, champ, w, allow_removed_rules=True).passed
    assert evaluate_gates(chall, champ, w, unsound_rules=("b", "d")).passed  # retired: meant
