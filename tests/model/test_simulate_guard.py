"""The precision guard in the replay: on a stream that drifts (label noise injected in later
periods) it acts, the "no guard" baseline shows the periods below the target and the guarded run
does not; before anything drifts the two lines are the same. Stub policies keep it fast."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.model.simulate import assign_periods, simulate
from autoresolve.model.splits import time_positions
from tests.model.test_simulate import StubPolicy
from tests.support import CRM_DIR

os.environ.setdefault("OMP_NUM_THREADS", "1")
CRM = load_domain(CRM_DIR)
LOW = {"no_owner_mid", "exact_duplicate", "dup_fuzzy", "freemail_intent"}  # resolved at 0.75
# With the stub's certified λ 0.5, guard_levels picks 0.8, 0.9, 0.95 from this grid: the kinds
# at 0.75 feed only the certified level, the others every level.
GRID = (0.6, 0.65, 0.7, 0.8, 0.82, 0.84, 0.86, 0.9, 0.91, 0.92, 0.93, 0.95)
PERIODS, DRIFT_FROM = 5, 3


class ConfidentStub(StubPolicy):
    """The learning stub, with a confidence per kind and a candidate grid for the guard."""

    candidate_grid = GRID

    def decide_frame(self, df: pd.DataFrame, now=None) -> pd.DataFrame:
        out = super().decide_frame(df, now)
        model = out["source"].to_numpy() == "model"
        low = df["kind"].isin(LOW).to_numpy()
        out["confidence"] = np.where(model, np.where(low, 0.75, 0.99), np.nan)
        return out


def _train(domain, df, seed, rules):
    return ConfidentStub(domain, df, version=f"stub-{seed}-{len(df)}")


def _drifting(noise: float, seed: int = 7) -> pd.DataFrame:
    """CRM records whose label is a function of the kind, then from period DRIFT_FROM on a
    `noise` share of the LOW kinds' labels replaced by another resolution."""
    from autoresolve.model.generators.crm import generate_with_meta

    df, meta = generate_with_meta(4000, seed=seed)
    df = df.assign(kind=meta["case_kind"].to_numpy())
    majority = df.groupby("kind")["resolution"].agg(lambda s: s.value_counts().index[0])
    df["resolution"] = df["kind"].map(majority)
    df.loc[df["lead_source"].eq("partner_referral"), "resolution"] = "route_partner_team"
    df = df.iloc[time_positions(CRM, df)].reset_index(drop=True)
    period = assign_periods(df, CRM, PERIODS)
    rng = np.random.default_rng(seed)
    flip = (period >= DRIFT_FROM) & df["kind"].isin(LOW).to_numpy()
    flip &= rng.random(len(df)) < noise
    flip &= ~df["lead_source"].eq("partner_referral").to_numpy()
    df.loc[flip, "resolution"] = np.where(
        df.loc[flip, "resolution"].eq("nurture_marketing"), "disqualify_spam", "nurture_marketing"
    )
    return df


@pytest.fixture(scope="module")
def drift_result():
    return simulate(CRM, _drifting(0.4), PERIODS, audit_rate=0.5, seed=3, train=_train)


@pytest.fixture(scope="module")
def drift_replay(drift_result) -> dict:
    out = drift_result.to_dict()
    json.dumps(out)
    return out


def test_labels_revealed_with_the_guard_are_the_deferrals_and_the_audit(drift_result) -> None:
    # The audit samples what the certified policy would resolve, so an audited record the guard
    # held is also a deferral: labelled once, counted in both.
    both = 0
    for k in range(2, PERIODS + 1):
        revealed = set(drift_result.revealed[k])
        deferred, audited = set(drift_result.deferred_ids[k]), set(drift_result.audited[k])
        assert revealed == deferred | audited
        both += len(deferred & audited)
    assert both > 0


def test_the_guard_acts_on_the_drift_and_keeps_periods_off_the_flag(drift_replay) -> None:
    out, s = drift_replay, drift_replay["summary"]
    raised = [a for a in s["guard_actions"] if a["kind"] == "raise_threshold"]
    assert raised and raised[0]["period"] == DRIFT_FROM  # found in the period it started
    assert "0.75" not in raised[0]["reason"] and "below 0.95" in raised[0]["reason"]
    # Without the guard every drifted period's interval lies wholly below the target ...
    flagged = s["no_guard"]["model_precision_interval_below_target"]
    assert flagged == list(range(DRIFT_FROM, PERIODS + 1))
    # ... with it, none does: the raised threshold (0.8) defers the kinds that went wrong.
    assert s["model_precision_interval_below_target"] == []
    assert s["model_precision_point_at_target_share"] == 1.0
    later = [p for p in out["periods"] if p.get("period", 0) > DRIFT_FROM]
    for p in later:
        g = p["guard"]
        assert g["threshold_start"] == pytest.approx(0.8) and g["state"] == "raised"
        assert g["held"] > 0
        assert p["deferral_reasons"].get("guard") == g["held"]
        assert p["model_precision"]["precision"] == 1.0
    # What it cost, measured against the same records without the guard.
    no_guard = {b["period"]: b for b in out["baselines"]["no_guard"]}
    for p in later:
        assert p["autonomy"] < no_guard[p["period"]]["autonomy"]


def test_the_guard_asks_the_retraining_job_for_recertification(drift_replay) -> None:
    asked = [p for p in drift_replay["periods"] if p.get("retrain", {}).get("guard")]
    assert asked and asked[0]["period"] == DRIFT_FROM
    assert any(
        "precision guard asks for recertification" in r for r in asked[0]["retrain"]["reasons"]
    )
    assert asked[0]["retrain"]["needed"] is True


def test_before_the_drift_both_lines_are_the_same_records_and_decisions(drift_replay) -> None:
    out = drift_replay
    no_guard = {b["period"]: b for b in out["baselines"]["no_guard"]}
    for p in out["periods"][1 : DRIFT_FROM - 1]:  # periods before the drift
        b = no_guard[p["period"]]
        assert not b["forked"] and p["guard"]["actions"] == [] and p["guard"]["held"] == 0
        assert (b["autonomy"], b["model_precision"]) == (p["autonomy"], p["model_precision"])
    assert no_guard[PERIODS]["forked"]  # its own loop once the guard changed something


def test_without_drift_the_guard_stays_quiet_and_costs_nothing() -> None:
    out = simulate(CRM, _drifting(0.0), PERIODS, audit_rate=0.5, seed=3, train=_train).to_dict()
    s = out["summary"]
    assert s["guard_actions"] == [] and s["guard_held"] == 0
    assert [b["autonomy"] for b in out["baselines"]["no_guard"]] == [
        p["autonomy"] for p in out["periods"][1:]
    ]


def test_no_guard_replays_without_it() -> None:
    out = simulate(
        CRM, _drifting(0.4), PERIODS, audit_rate=0.5, seed=3, train=_train, guard=False
    ).to_dict()
    assert out["guard"] == {} and "no_guard" not in out["baselines"]
    assert all("guard" not in p for p in out["periods"])
    assert out["summary"]["model_precision_interval_below_target"] == [3, 4, 5]
