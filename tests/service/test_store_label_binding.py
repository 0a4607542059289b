"""Issue 14: a label belongs to the decision it labels (SQLite and PostgreSQL).

A re-sent record id is a new decision, recorded as such: it never changes the record a label
trains on, never takes a deferred record out of the queue, and labels written at the same time
for one record keep their history's `previous` right.
"""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa

from autoresolve.service.store import DecisionStore
from tests.service.test_service_store import CRM, dec, rec, store, store_url  # noqa: F401
from tests.support import run_threads


def test_a_later_decision_never_changes_what_a_label_trains_on(store):  # noqa: F811
    store.log_decisions(CRM, [dec("a")], [rec("a", country="DE")])
    store.upsert_labels(CRM, [("a", "merge_duplicate")])
    # the same id again, with other features: a new decision, recorded as such
    store.log_decisions(CRM, [dec("a", "resolved", probs=(0.99, 0.0))], [rec("a", country="XX")])
    assert store.count_decisions(CRM) == 2
    row = store.labelled_frame(CRM).set_index("record_id").loc["a"]
    assert row["country"] == "DE" and row["decision_outcome"] == "deferred"
    # changing the label keeps it on the decision it labels
    store.upsert_labels(CRM, [("a", "route_smb_queue")])
    row = store.labelled_frame(CRM).set_index("record_id").loc["a"]
    assert row["country"] == "DE" and row["resolution"] == "route_smb_queue"


def test_a_later_decision_never_takes_a_record_out_of_the_queue(store):  # noqa: F811
    store.log_decisions(CRM, [dec("q", reason="novel")], [rec("q")])
    store.log_decisions(CRM, [dec("q", "resolved", probs=(0.99, 0.0))], [rec("q", country="XX")])
    assert store.queue_depth(CRM) == 1
    assert [i["record"]["country"] for i in store.deferred(CRM)] == ["DE"]
    store.upsert_labels(CRM, [("q", "merge_duplicate")])
    assert store.queue_depth(CRM) == 0


def test_a_label_before_its_decision_pairs_with_the_first_one_logged(store):  # noqa: F811
    r = store.upsert_labels(CRM, [("early", "merge_duplicate"), ("x", "merge_duplicate")])
    assert r.unknown == ("early", "x")
    store.log_decisions(CRM, [dec("early")], [rec("early", country="FR")])
    store.log_decisions(CRM, [dec("early")], [rec("early", country="XX")])
    row = store.labelled_frame(CRM).set_index("record_id").loc["early"]
    assert row["country"] == "FR"


def test_the_answer_names_unknown_ids_and_ids_given_twice(store):  # noqa: F811
    store.log_decisions(CRM, [dec("k")], [rec("k")])
    r = store.upsert_labels(
        CRM, [("k", "merge_duplicate"), ("nobody", "merge_duplicate"), ("k", "route_smb_queue")]
    )
    got = r.to_dict()
    assert got["unknown_record_ids"] == ["nobody"] and got["unknown"] == 1
    assert got["repeated_record_ids"] == ["k"] and got["repeated"] == 1
    assert store.labelled_frame(CRM).set_index("record_id").loc["k", "resolution"] == (
        "route_smb_queue"
    )


def test_concurrent_labels_for_one_record_keep_previous_right(store_url):  # noqa: F811
    writers = [DecisionStore.from_url(store_url, busy_timeout_ms=20_000) for _ in range(2)]
    writers[0].migrate()
    writers[0].log_decisions(CRM, [dec("hot")], [rec("hot")])
    choices = ("merge_duplicate", "route_smb_queue", "nurture_marketing", "enrich_company_data")
    go = threading.Barrier(6)

    def label(w: int) -> None:
        go.wait()
        for i in range(15):
            writers[(w + i) % 2].upsert_labels(CRM, [("hot", choices[(w + i) % 4])])

    errors = run_threads(label, 6)
    assert not errors, errors
    history = writers[0].label_history_of(CRM, "hot")
    assert len(history) > 1
    wrong = [
        (before["resolution"], after["previous"])
        for before, after in itertools.pairwise(history)
        if before["resolution"] != after["previous"]
    ]
    assert wrong == []
    final = writers[0].labelled_frame(CRM).set_index("record_id").loc["hot", "resolution"]
    assert final == history[-1]["resolution"]
    for w in writers:
        w.close()


@pytest.mark.parametrize("bound", [True, False])
def test_migration_binds_existing_labels_to_the_decision_they_were_paired_with(tmp_path, bound):
    s = DecisionStore.from_url(f"sqlite:///{tmp_path / 'm.db'}")
    s.migrate("0003")  # the revision before labels belonged to decisions
    if bound:
        s.log_decisions(CRM, [dec("m")], [rec("m", country="DE")])
    with s.engine.begin() as c:  # the 0003 schema has no decision_id: a label as it wrote them
        c.execute(
            sa.text(
                "INSERT INTO labels (domain, record_id, resolution, source, labelled_at, "
                "updated_at) VALUES ('crm', 'm', 'merge_duplicate', 'cli', :at, :at)"
            ),
            {"at": "2026-01-02 00:00:00.000000"},
        )
    s.migrate()
    s.log_decisions(CRM, [dec("m")], [rec("m", country="XX")])
    frame = s.labelled_frame(CRM)
    assert list(frame["country"]) == (["DE"] if bound else ["XX"])
    s.close()
