"""The deployment report: tables from a small store, clusters of the queue, self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.model.report import (
    audited_precision,
    autonomy_over_time,
    build_report,
    deferred_clusters,
)
from autoresolve.model.report_html import render_html
from tests.support import CRM_DIR

CRM = load_domain(CRM_DIR)


def _traffic(n: int = 400, seed: int = 0) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Decisions and records over four days: a dominant deferred group, rules and model."""
    rng = np.random.default_rng(seed)
    decisions, records, truth = [], [], {}
    for i in range(n):
        rid = f"R{i:05d}"
        day = 1 + i * 4 // n
        kind = rng.choice(["rule", "model", "webinar", "misc"], p=[0.4, 0.3, 0.2, 0.1])
        rec = {
            "record_id": rid,
            "error_code": "NO_OWNER_MATCH" if kind != "webinar" else "MISSING_CONSENT",
            "lead_source": "webinar" if kind == "webinar" else str(rng.choice(["web", "event"])),
            "country": str(rng.choice(["DE", "US", "FR"])),
            "employees": float(rng.integers(1, 500)),
            "is_free_email": bool(rng.random() < 0.3),
        }
        right = "route_smb_queue"
        if kind == "rule":
            d = {"outcome": "resolved", "resolution": right, "source": "rule", "rule_id": "r1"}
        elif kind == "model":
            wrong = rng.random() < 0.05
            d = {
                "outcome": "resolved",
                "resolution": "nurture_marketing" if wrong else right,
                "source": "model",
                "confidence": 0.97,
            }
        else:
            d = {
                "outcome": "deferred",
                "defer_reason": "low_confidence",
                "candidates": [{"resolution": right, "probability": 0.6}],
            }
        d |= {
            "record_id": rid,
            "policy_version": "v1",
            "decided_at": f"2025-03-0{day}T10:00:00+00:00",
        }
        decisions.append(d)
        records.append(rec)
        truth[rid] = "nurture_marketing" if kind == "webinar" else right
    return decisions, records, truth


@pytest.fixture()
def store(tmp_path: Path):
    from autoresolve.service.store import DecisionStore

    s = DecisionStore.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    s.migrate()
    decisions, records, truth = _traffic()
    s.log_decisions(CRM, decisions, records)
    # labels: every webinar deferral resolved by a person, plus an audit of automatic ones
    audited = [d["record_id"] for d in decisions if d["outcome"] == "resolved"][::5]
    webinar = [r["record_id"] for r in records if r["lead_source"] == "webinar"][:40]
    s.upsert_labels(CRM, [(rid, truth[rid]) for rid in audited + webinar], source="test")
    yield s
    s.close()


def test_report_from_a_small_store(store) -> None:
    decisions = store.decisions_frame(CRM)
    labels = store.labelled_frame(CRM)
    queue = store.deferred(CRM, limit=1000)
    deferred = pd.DataFrame([q["record"] for q in queue])
    rep = build_report(
        CRM,
        decisions=decisions,
        labels=labels,
        deferred=deferred,
        queue_depth=store.queue_depth(CRM),
        drift=pd.DataFrame({"field": ["lead_source", "country"], "psi": [0.4, 0.01]}),
    )
    a = rep.autonomy
    assert list(a["period"]) == ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
    assert a["records"].sum() == len(decisions)
    assert ((a["autonomy"] >= 0) & (a["autonomy"] <= 1)).all()
    prec = rep.precision.set_index("source")
    assert prec.loc["rule", "precision"] == 1.0
    m = prec.loc["model"]
    assert m["audited"] > 0 and m["low"] <= m["precision"] <= m["high"]
    n_deferred = int(decisions["outcome"].eq("deferred").sum())
    assert rep.queue_depth == len(deferred) == n_deferred - 40  # labelled ones leave the queue
    top = rep.clusters.iloc[0]
    assert "lead_source=webinar" in top["cluster"]
    assert top["common"].get("error_code") == "MISSING_CONSENT"
    # the queue holds only unlabelled records, so the cluster has no majority label yet
    assert rep.to_dict()["clusters"][0]["size"] == top["size"]
    assert any("lead_source" in n for n in rep.notes)  # drift above the bar is called out


def _queue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"D{i}" for i in range(60)],
            "error_code": ["MISSING_CONSENT"] * 40 + ["NO_OWNER_MATCH"] * 20,
            "lead_source": ["webinar"] * 40 + ["web", "event"] * 10,
            "country": np.random.default_rng(1).choice(["DE", "US", "FR", "NL"], 60),
        }
    )


@pytest.mark.parametrize("supervised", [False, True])
def test_clusters_name_the_majority_label_where_labels_exist(supervised: bool) -> None:
    ids = [f"D{i}" for i in range(30)] + [f"D{i}" for i in range(40, 60)]
    truth = ["nurture_marketing"] * 27 + ["route_smb_queue"] * 3 + ["route_smb_queue"] * 20
    labels = pd.DataFrame({"record_id": ids, "resolution": truth})
    out = deferred_clusters(
        _queue(),
        CRM,
        labels=labels,
        label_column="resolution",
        min_labels=30 if supervised else 10_000,
    )
    assert out["size"].sum() == 60
    big = out[out["common"].map(lambda c: c.get("lead_source") == "webinar")]
    assert len(big) == 1, "the webinar group is one cluster, not cut by the unrelated country"
    big = big.iloc[0]
    assert big["size"] == 40
    assert big["majority_label"] == "nurture_marketing"
    assert big["purity"] == pytest.approx(0.9)
    assert big["labelled"] == 30 and big["unlabelled"] == 10


def test_html_is_self_contained(store) -> None:
    rep = build_report(
        CRM,
        decisions=store.decisions_frame(CRM),
        labels=store.labelled_frame(CRM),
        drift=pd.DataFrame({"field": ["country"], "psi": [0.05]}),
        rule_health=pd.DataFrame({"rule_id": ["r1"], "precision": [1.0]}),
    )
    page = render_html(rep)
    assert page.startswith("<!doctype html>")
    assert "data:image/png;base64," in page
    srcs = re.findall(r"""src\s*=\s*['"]([^'"]*)""", page)
    assert srcs and all(s.startswith("data:") for s in srcs)
    assert not re.search(r"href\s*=", page)
    assert not re.search(r"@import|url\(", page)
    assert "<script" not in page


def test_empty_log_gives_an_empty_report() -> None:
    empty = pd.DataFrame(columns=["record_id", "outcome", "source", "resolution", "decided_at"])
    assert autonomy_over_time(empty).empty
    prec = audited_precision(empty, pd.DataFrame(columns=["record_id", "resolution"]))
    assert (prec["audited"] == 0).all()
    rep = build_report(CRM, decisions=empty)
    assert "<table" in render_html(rep) or "nothing to show" in render_html(rep)
