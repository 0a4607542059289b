"""The replay: structure, sanity, the reveal protocol, the real gates, and a small CRM run."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoresolve.model.decision import DECISION_COLUMNS
from autoresolve.model.domain import load_domain
from autoresolve.model.simulate import RetrainPolicy, assign_periods, simulate
from tests.support import CRM_DIR

os.environ.setdefault("OMP_NUM_THREADS", "1")
CRM = load_domain(CRM_DIR)


class StubPolicy:
    """Resolves the kinds of case it has seen labelled often enough; defers the rest.

    Stands in for a trained policy so the protocol can be tested in milliseconds: it learns
    (more labels of a kind → that kind resolved), which is what the replay must show. It reads
    the hidden `kind` column the tests add; labels there are a function of the kind.
    """

    def __init__(self, domain, labelled: pd.DataFrame, version: str):
        self.domain = domain
        self.version = version
        counts = labelled.groupby("kind")[domain.label].agg(lambda s: s.value_counts().index[0])
        sizes = labelled["kind"].value_counts()
        self.known = {k: counts[k] for k in counts.index if sizes[k] >= 20}
        self.certificate = {"threshold": 0.5 if self.known else None, "reason": "stub"}

    def decide_frame(self, df: pd.DataFrame, now=None) -> pd.DataFrame:
        codes = df["kind"].astype(object).to_numpy()
        res = np.array([self.known.get(c) for c in codes], dtype=object)
        ok = np.array([r is not None for r in res])
        rule = df["lead_source"].astype(object).to_numpy() == "partner_referral"
        out = pd.DataFrame(
            {
                "record_id": df[self.domain.id].astype(str).to_numpy(),
                "outcome": np.where(ok | rule, "resolved", "deferred"),
                "resolution": np.where(rule, "route_partner_team", np.where(ok, res, None)),
                "source": np.where(rule, "rule", np.where(ok, "model", None)),
                "rule_id": np.where(rule, "partner", None),
                "confidence": np.where(ok, 0.9, np.nan),
                "threshold": 0.5,
                "defer_reason": np.where(ok | rule, None, "low_confidence"),
                "candidates": [[] for _ in range(len(df))],
                "policy_version": self.version,
                "decided_at": "2025-01-01T00:00:00Z",
            },
            columns=list(DECISION_COLUMNS),
        )
        return out


def stub_train(domain, df, seed, rules):
    return StubPolicy(domain, df, version=f"stub-{seed}-{len(df)}")


@pytest.fixture(scope="module")
def crm_small() -> tuple[pd.DataFrame, np.ndarray]:
    from autoresolve.model.generators.crm import generate_with_meta

    df, meta = generate_with_meta(4000, seed=7)
    kinds = meta["case_kind"].to_numpy()
    df = df.assign(kind=kinds)
    majority = df.groupby("kind")["resolution"].agg(lambda s: s.value_counts().index[0])
    df["resolution"] = df["kind"].map(majority)
    df.loc[df["lead_source"].eq("partner_referral"), "resolution"] = "route_partner_team"
    return df, kinds


def test_periods_are_equal_time_spans_and_cover_every_row(crm_small) -> None:
    df, _ = crm_small
    ordered = df.sort_values("created_at", kind="stable").reset_index(drop=True)
    p = assign_periods(ordered, CRM, 12)
    assert p.min() == 1 and p.max() == 12
    assert np.all(np.diff(p) >= 0)  # time order ⇒ periods never go back
    months = ordered["created_at"].dt.month.to_numpy()
    agree = np.mean(p == months)  # 12 equal spans of a 12-month year ≈ the calendar months
    assert agree > 0.9
    counts = assign_periods(ordered, CRM, 4, split="count")
    assert np.bincount(counts)[1:].min() >= len(df) // 4 - 1
    with pytest.raises(ValueError, match="at least 2"):
        assign_periods(ordered, CRM, 1)


def test_structure_and_sanity_with_a_learning_stub(crm_small) -> None:
    df, kinds = crm_small
    res = simulate(
        CRM,
        df,
        6,
        audit_rate=0.05,
        seed=3,
        train=stub_train,
        kinds=kinds,
        new_kinds=["webinar_smb", "consent_missing"],
        retrain_policy=RetrainPolicy(min_new_labels=50),
    )
    out = res.to_dict()
    json.dumps(out)  # JSON-able as printed by --json
    assert [p["period"] for p in out["periods"]] == list(range(1, 7))
    assert out["periods"][0]["role"] == "train"
    for p in out["periods"][1:]:
        for key in (
            "period",
            "records",
            "autonomy",
            "model_precision",
            "rule_precision",
            "deferred",
            "promoted",
            "deferral_reasons",
            "deferred_per_1000",
            "audit",
        ):
            assert key in p, key
        assert 0.0 <= p["autonomy"] <= 1.0
        assert p["deferred"] == sum(p["deferral_reasons"].values())
        assert p["deferred_per_1000"] == pytest.approx(1000 * p["deferred"] / p["records"])
        for key in ("model_precision", "rule_precision"):
            m = p[key]
            if m["n"]:
                assert m["low"] <= m["precision"] <= m["high"]
        assert p["retrain"]["reasons"], "every period says why it did or did not retrain"
    assert set(out["baselines"]) == {"rules_only", "first_model", "no_guard"}
    for name in ("rules_only", "first_model"):
        assert len(out["baselines"][name]) == 5
        assert all(0.0 <= b["autonomy"] <= 1.0 for b in out["baselines"][name])
    promoted = [p for p in out["periods"] if p["promoted"]]
    assert promoted, "a stub that learns from labels must get promoted at least once"
    for p in promoted:
        assert p["retrain"]["gates_passed"] is True
        assert any(r.startswith("coverage") for r in p["retrain"]["gate_reasons"])
    # the loop beats the frozen first model by the end
    last = out["periods"][-1]
    assert last["autonomy"] >= out["baselines"]["first_model"][-1]["autonomy"]
    assert set(out["new_kinds"]) == {"webinar_smb", "consent_missing"}
    png = res.plot_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(audit_rate=st.sampled_from([0.0, 0.01, 0.2, 1.0]), seed=st.integers(0, 10_000))
def test_labels_are_revealed_only_for_deferred_and_audited(crm_small, audit_rate, seed) -> None:
    df, _ = crm_small
    # The reveal protocol without the guard (fast at audit_rate 1.0); with it, where the guard
    # holds audited records: tests/model/test_simulate_guard.py.
    res = simulate(
        CRM, df.head(2000), 4, audit_rate=audit_rate, seed=seed, train=stub_train, guard=False
    )
    for k in range(2, 5):
        revealed = set(res.revealed[k])
        deferred = set(res.deferred_ids[k])
        audited = set(res.audited[k])
        assert revealed == deferred | audited
        assert not (deferred & audited), "audits sample automatic decisions only"
        if audit_rate == 0.0:
            assert not audited
    total = sum(len(v) for v in res.revealed.values())
    assert res.periods[-1]["labels_total"] == total


def test_refuses_data_without_labels(crm_small) -> None:
    df, _ = crm_small
    with pytest.raises(ValueError, match="resolution"):
        simulate(CRM, df.drop(columns=["resolution"]), 3, train=stub_train)
    with pytest.raises(ValueError, match="audit_rate"):
        simulate(CRM, df, 3, audit_rate=1.5, train=stub_train)


@pytest.mark.slow
def test_small_crm_replay_with_the_real_training() -> None:
    from autoresolve.model.generators.crm import generate_with_meta

    df, meta = generate_with_meta(6000, seed=11)
    res = simulate(
        CRM, df, 3, seed=0, kinds=meta["case_kind"].to_numpy(), new_kinds=["webinar_smb"]
    )
    out = res.to_dict()
    assert len(out["periods"]) == 3
    for p in out["periods"][1:]:
        assert 0.0 <= p["autonomy"] <= 1.0
        assert p["autonomy"] >= out["baselines"]["rules_only"][p["period"] - 2]["autonomy"]
        m = p["model_precision"]
        if m["n"]:
            assert m["low"] <= m["precision"] <= m["high"]


class RuledStub(StubPolicy):
    """A real rule set and a model that resolves nothing: every record no rule decides is
    deferred, so its label is revealed and the learned-rules loop has labels to mine."""

    def __init__(self, domain, labelled, version, rules):
        super().__init__(domain, labelled, version)
        self.rules = rules
        self.known = {}
        self.certificate = {"threshold": 0.5, "reason": "stub"}

    def decide_frame(self, df: pd.DataFrame, now=None) -> pd.DataFrame:
        out = super().decide_frame(df, now)
        hit = np.asarray(self.rules.match_frame(df))
        on = hit >= 0
        ids = np.array([r.id for r in self.rules.rules] + [None], dtype=object)[hit]
        then = np.array([r.then for r in self.rules.rules] + [None], dtype=object)[hit]
        defer = then == "defer"
        out["rule_id"] = np.where(on, ids, None)
        out["source"] = np.where(on, "rule", None)
        out["outcome"] = np.where(on & ~defer, "resolved", "deferred")
        out["resolution"] = np.where(on & ~defer, then, None)
        out["defer_reason"] = np.where(on & ~defer, None, np.where(on, "rule", "low_confidence"))
        return out


def test_the_learned_rules_loop_is_a_line_of_its_own() -> None:
    from autoresolve.model.generators.crm import generate_with_meta
    from autoresolve.model.policy import default_rules
    from autoresolve.rules.learned import with_learned

    df, meta = generate_with_meta(12_000, seed=7)  # enough deferred labels to prove rules on
    df = df.assign(kind=meta["case_kind"].to_numpy())
    majority = df.groupby("kind")["resolution"].agg(lambda s: s.value_counts().index[0])
    df["resolution"] = df["kind"].map(majority)
    bad = (
        "  - id: learned-bad\n"
        '    when: error_code == "DUPLICATE_SUSPECT" and lead_source is not null\n'
        "    then: disqualify_spam\n    learned: {at: '2025-01-01', precision: {bar: 0.95}}\n"
    )
    rules, _ = with_learned(default_rules(CRM), bad)

    def train(domain, frame, seed, rules_):
        return RuledStub(domain, frame, f"stub-{seed}-{len(frame)}", rules_ or rules)

    res = simulate(
        CRM, df, 5, audit_rate=0.05, seed=2, train=train, rules=rules, learned_rules=True,
        retrain_policy=RetrainPolicy(min_new_labels=50),
    )  # fmt: skip
    out = res.to_dict()
    json.dumps(out)
    rows = out["baselines"]["learned_rules"]
    assert [r["period"] for r in rows] == [2, 3, 4, 5]
    assert len(out["baselines"]["rules_only"]) == 4  # the other lines are unchanged
    assert rows[0]["autonomy"] == out["periods"][1]["autonomy"]  # same first policy
    retired = [rid for r in rows for rid in r["retired"]]
    added = [rid for r in rows for rid in r["added"]]
    assert retired == ["learned-bad"]  # below its bar on the revealed labels
    assert added and all(a.startswith("learned-") for a in added)
    assert any(r["learned_rule_resolved"] for r in rows)
    assert rows[-1]["autonomy"] > out["periods"][-1]["autonomy"]  # learned rules add autonomy
    assert rows[0]["learned_rule_precision"]["precision"] == 0.0  # the bad rule, period 2
    fresh = next(r for r in rows[1:] if r["learned_rule_resolved"])  # the first mined rules
    assert fresh["learned_rule_precision"]["low"] >= 0.95
    # the main loop never mines: its rule set is the one it was given
    assert all("learned" not in p["retrain"] for p in out["periods"][1:])
    assert out["summary"]["learned_rules_last_autonomy"] == rows[-1]["autonomy"]
    assert res.plot_png()[:8] == b"\x89PNG\r\n\x1a\n"
