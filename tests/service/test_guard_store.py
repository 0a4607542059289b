"""The precision guard in the store, on SQLite and PostgreSQL: the state round-trips, an upgrade
from 0002 keeps the data, and label posts from many threads at once lose no observation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from autoresolve.model.decision import Candidate, Decision
from autoresolve.model.guard import GuardState, new_guard, observe_model, observe_rule
from autoresolve.model.serving import GuardView, ServedPolicy
from autoresolve.service.guard_keeper import GuardKeeper, recertify_request, summary
from autoresolve.service.metrics import Metrics
from autoresolve.service.store import DecisionStore
from autoresolve.service.store.guard_store import ensure_guard
from tests.service.test_service_store import CRM, store_url  # noqa: F401  (fixture)

VERSION = "crm:7"


class StubPolicy:
    """What the guard reads of a policy: version, domain targets, rules, the certified λ."""

    version = VERSION
    domain = CRM
    rules = None
    threshold = 0.5
    candidate_grid = (0.6, 0.7, 0.8, 0.9)


def _decision(rid: str, *, audit: bool = True) -> Decision:
    return Decision(
        rid,
        "resolved",
        "route_smb_queue",
        "model",
        None,
        0.95,
        0.5,
        None,
        (Candidate("route_smb_queue", 0.95),),
        VERSION,
        datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        audit=audit,
    )


def test_guard_state_round_trips(store_url) -> None:  # noqa: F811
    store = DecisionStore.from_url(store_url)
    store.migrate()
    state = new_guard(
        VERSION, target=0.95, confidence=0.9, levels=(0.5, 0.7), rule_targets={"spam": 0.97}
    )
    for ok in (True, False, True, False, False):
        state = observe_model(state, 0.8, ok)
        state = observe_rule(state, "spam", not ok)
    ensure_guard(store.engine, "crm", state.to_dict(), summary(GuardView(state)))
    ensure_guard(store.engine, "crm", state.to_dict(), summary(GuardView(state)))  # no-op
    row = store.read_guard("crm", VERSION)
    assert GuardState.from_dict(row["state"]) == state
    assert row["seq"] == 0 and store.guard_seq("crm", VERSION) == 0
    assert [r["policy_version"] for r in store.read_guards("crm")] == [VERSION]
    assert recertify_request(row) is None
    store.close()


def test_upgrade_from_0002_keeps_decisions_and_adds_the_guard(store_url) -> None:  # noqa: F811
    store = DecisionStore.from_url(store_url)
    store.migrate("0002")
    with store.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO decisions (domain, record_id, outcome, policy_version, decided_at, "
                "record, defer_reason, source) VALUES ('crm', 'old-1', 'resolved', 'crm:0', "
                ":at, :rec, NULL, 'rule')"
            ),
            {"at": datetime(2026, 1, 1, tzinfo=UTC), "rec": '{"x": 1}'},
        )
    store.migrate()
    assert store.current_revision() == "0004"
    frame = store.decisions_frame("crm")
    assert frame["record_id"].tolist() == ["old-1"] and not frame["audit"].any()
    assert store.read_guards("crm") == [] and store.audits("crm") == []
    store.close()


def test_concurrent_label_posts_lose_no_observation(store_url) -> None:  # noqa: F811
    store = DecisionStore.from_url(store_url)
    store.migrate()
    ids = [f"a-{i}" for i in range(60)]
    store.log_decisions(CRM, [_decision(r) for r in ids], [{"record_id": r} for r in ids])
    store.log_decisions(CRM, [_decision("plain", audit=False)], [{"record_id": "plain"}])
    assert store.audit_depth(CRM) == 60
    assert [a["record_id"] for a in store.audits(CRM, limit=3)] == ids[:3]
    keeper = GuardKeeper("crm", store, Metrics(), audit_share=1.0, audit_seed=0)
    policy = StubPolicy()
    keeper.policy_loaded(policy)
    errors: list[BaseException] = []

    def post(chunk: list[str]) -> None:
        try:
            for rid in chunk:
                out: list[dict] = []
                pairs = [(rid, "nurture_marketing")]  # every audited answer was wrong
                store.upsert_labels(CRM, pairs, after=keeper.after_labels(policy, out))
                keeper.accept(policy, out[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # neither a label of an unaudited decision nor a changed label is new evidence
    store.upsert_labels(
        CRM, [("plain", "nurture_marketing")], after=keeper.after_labels(policy, [])
    )
    store.upsert_labels(CRM, [(ids[0], "route_smb_queue")], after=keeper.after_labels(policy, []))
    row = store.read_guard("crm", VERSION)
    state = GuardState.from_dict(row["state"])
    assert row["seq"] == len(ids)  # one change per label of an audited decision, none lost
    assert state.model[0].n == len(ids) and state.model[0].wrong == len(ids)
    assert row["suspended"] or row["threshold"] > policy.threshold
    assert keeper.served(policy).view.seq == row["seq"]  # this worker serves the newest
    assert "recertification" in (recertify_request(row) or "")
    assert store.audit_depth(CRM) == 0
    store.close()


def test_a_zero_share_audits_nothing() -> None:
    served = ServedPolicy(StubPolicy(), None, audit_share=0.0)
    assert served.serve(_decision("x", audit=False)).audit is False
    assert (
        ServedPolicy(StubPolicy(), None, audit_share=1.0).serve(_decision("x", audit=False)).audit
    )
