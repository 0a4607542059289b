"""The decision store on SQLite and on a real PostgreSQL (one schema per test, dropped after)."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from autoresolve.model.decision import Candidate, Decision
from autoresolve.model.domain import load_domain
from autoresolve.model.queue_priority import label_priority
from autoresolve.service.decision_codec import decision_json, log_row
from autoresolve.service.store import DecisionStore, LabelError, StoreUnavailable, key_of, metadata
from tests.support import CRM_DIR, run_threads

CRM = load_domain(CRM_DIR)
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_reachable() -> str | None:
    try:
        eng = sa.create_engine(PG_BASE, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_BASE} ({type(exc).__name__}); start it to run this"


@contextlib.contextmanager
def pg_schema_url():
    """A fresh PostgreSQL schema for one test, reached through search_path; dropped after."""
    why = _pg_reachable()
    if why:
        pytest.skip(why)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def pg_store():
    with pg_schema_url() as url:
        s = DecisionStore.from_url(url, busy_timeout_ms=300)
        s.migrate()
        yield s, url
        s.close()


@pytest.fixture
def store(store_url):
    s = DecisionStore.from_url(store_url, busy_timeout_ms=300)
    s.migrate()
    yield s
    s.close()


def dec(rid: str, outcome="deferred", reason="low_confidence", probs=(0.5, 0.4)) -> Decision:
    cands = tuple(
        Candidate(r, p) for r, p in zip(("route_smb_queue", "merge_duplicate"), probs, strict=True)
    )
    return Decision(
        rid,
        outcome,
        "route_smb_queue" if outcome == "resolved" else None,
        "model" if outcome == "resolved" else None,
        None,
        probs[0],
        0.9,
        None if outcome == "resolved" else reason,
        cands,
        "crm:1",
        "2026-03-01T10:00:00.000Z",
    )


def rec(rid: str, **fields) -> dict:
    return {"record_id": rid, "country": "DE", "employees": 12.0, **fields}


def test_upgrade_from_first_revision_keeps_data(store_url):
    s = DecisionStore.from_url(store_url)
    s.migrate("0001")
    with s.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO decisions (domain, record_id, outcome, policy_version, decided_at, "
                "record, defer_reason) VALUES ('crm', 'old-1', 'deferred', 'crm:0', "
                ":at, :rec, 'novel')"
            ),
            {"at": pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime(), "rec": '{"x": 1}'},
        )
        c.execute(
            sa.text(
                "INSERT INTO labels (domain, record_id, resolution, source, labelled_at, "
                "updated_at) VALUES ('crm', 'old-2', 'merge_duplicate', 'cli', :at, :at)"
            ),
            {"at": pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()},
        )
    assert s.current_revision() == "0001"
    s.migrate()
    assert s.current_revision() == s.head_revision() == "0004"
    items = s.deferred("crm")
    assert [i["record_id"] for i in items] == ["old-1"] and items[0]["priority"] == 2.0
    assert s.label_history_of("crm", "old-2")[0]["resolution"] == "merge_duplicate"
    s.migrate()  # idempotent
    s.close()


def test_migrations_match_the_tables_the_code_uses(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    s = DecisionStore.from_url(f"sqlite:///{tmp_path / 'm.db'}")
    s.migrate()
    with s.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], diff


def test_log_labels_queue_and_frames(store):
    store.log_decisions(
        CRM,
        [
            dec("a", probs=(0.5, 0.45)),
            dec("b", reason="novel"),
            dec("c", "resolved", probs=(0.97, 0.01)),
        ],
        [rec("a"), rec("b", notes="Zoë ✓"), rec("c")],
    )
    store.log_decisions(CRM, [dec("d", reason="rule")], [rec("d")])
    assert store.queue_depth(CRM) == 3
    assert [i["record_id"] for i in store.deferred(CRM)] == ["b", "a", "d"]
    first = store.deferred(CRM, limit=1)
    assert [i["record_id"] for i in store.deferred(CRM, limit=1, after=key_of(first[0]))] == ["a"]
    # a later automatic decision for the same record leaves it in the queue (issue 14)
    store.log_decisions(CRM, [dec("d", "resolved", probs=(0.99, 0.0))], [rec("d")])
    assert store.queue_depth(CRM) == 3
    r = store.upsert_labels(CRM, [("a", "merge_duplicate"), ("c", "route_smb_queue")], "audit")
    assert (r.inserted, r.updated, r.unchanged, r.unknown) == (2, 0, 0, ())
    assert store.upsert_labels(CRM, [("a", "merge_duplicate")]).unchanged == 1
    assert store.upsert_labels(CRM, [("a", "route_smb_queue")]).updated == 1
    assert store.queue_depth(CRM) == 2
    hist = store.label_history_of(CRM, "a")
    assert [(h["previous"], h["resolution"]) for h in hist] == [
        (None, "merge_duplicate"),
        ("merge_duplicate", "route_smb_queue"),
    ]
    lab = store.labelled_frame(CRM)
    assert set(lab["record_id"]) == {"a", "c"}
    row = lab.set_index("record_id").loc["a"]
    assert row["resolution"] == "route_smb_queue" and row["country"] == "DE"
    assert (
        row["decision_outcome"] == "deferred" and row["decision_defer_reason"] == "low_confidence"
    )
    assert str(lab["labelled_at"].dtype).startswith("datetime64")
    frame = store.decisions_frame(CRM)
    assert len(frame) == 5 and frame.loc[1, "notes"] == "Zoë ✓"
    assert store.decisions_frame(CRM, since="2027-01-01").empty
    assert store.labelled_frame(CRM, since="2100-01-01").empty
    assert store.decisions_frame("other").empty and store.queue_depth("other") == 0


def test_unknown_resolution_is_refused_with_allowed_values_and_nothing_written(store):
    with pytest.raises(LabelError) as err:
        store.upsert_labels(CRM, [("x", "merge_duplicate"), ("y", "merge_dupe")])
    msg = str(err.value)
    assert "merge_dupe" in msg and "Did you mean 'merge_duplicate'" in msg
    assert "Allowed values" in msg and err.value.index == 1
    assert store.labelled_frame(CRM).empty
    with pytest.raises(LabelError, match="no record_id"):
        store.upsert_labels(CRM, [(None, "merge_duplicate")])


@pytest.mark.parametrize("group_commit", [False, True])
def test_concurrent_writers_lose_nothing(store_url, group_commit):
    # two stores = two replicas (separate engines and pools) writing to the same database
    replicas = [DecisionStore.from_url(store_url, group_commit=group_commit) for _ in range(2)]
    store = replicas[0]
    store.migrate()

    def writer(w: int) -> None:
        for i in range(25):
            rid = f"w{w}-{i}"
            replica = replicas[(w + i) % 2]
            replica.log_decisions(CRM, [dec(rid)], [rec(rid)])
            replica.upsert_labels(
                CRM, [(f"shared-{i % 5}", "merge_duplicate"), (rid, "route_smb_queue")]
            )

    errors = run_threads(writer, 6)
    assert not errors, errors
    assert store.count_decisions(CRM) == 150
    lab = store.labelled_frame(CRM)
    assert len(lab) == 150  # shared-* were never decided, so they are not in the frame
    with store.engine.connect() as c:
        n = c.execute(sa.text("select count(*) from labels")).scalar_one()
    assert n == 155
    for r in replicas:
        r.close()


def test_workers_starting_together_migrate_once(store_url):
    stores = [DecisionStore.from_url(store_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(s: DecisionStore) -> None:
        try:
            s.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(s.is_current() for s in stores)
    for s in stores:
        s.close()


@pytest.mark.postgres
def test_postgres_locked_table_is_unavailable_then_recovers(pg_store):
    """The SQLite lock case is in test_service_app.py."""
    store, store_url = pg_store
    store.log_decisions(CRM, [dec("p1")], [rec("p1")])
    locker = sa.create_engine(store_url)
    with locker.connect() as conn:
        tx = conn.begin()
        conn.execute(sa.text("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(StoreUnavailable, match="lock"):
            store.log_decisions(CRM, [dec("p2")], [rec("p2")])
        tx.rollback()
    locker.dispose()
    store.log_decisions(CRM, [dec("p3")], [rec("p3")])
    assert store.decided_ids(CRM) == {"p1", "p3"}


@pytest.mark.postgres
def test_postgres_schema_dropped_is_unavailable(pg_store):
    store, store_url = pg_store
    schema = store_url.rsplit("%3D", 1)[1]
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    with pytest.raises(StoreUnavailable, match="decisions"):
        store.log_decisions(CRM, [dec("z")], [rec("z")])
    with pytest.raises(StoreUnavailable):
        store.ping()
    store.migrate()  # the operator restores the schema: the store works again
    store.log_decisions(CRM, [dec("z")], [rec("z")])
    assert store.count_decisions(CRM) == 1


@pytest.mark.parametrize("n", [1, 45, 700])
def test_logged_rows_read_back_exactly(store, n):
    """What the log returns is what was decided: floats bit for bit, text, order of ids, time.

    45 and 700 rows cross the writer's statement sizes (512, 256, … 1 rows per INSERT)."""
    probs = [((i * 0.61803398874989484) % 1.0, 1e-17 * i) for i in range(n)]
    decisions = [
        dec(f"r{i:04d}", reason=("novel", "low_confidence", "rule")[i % 3], probs=probs[i])
        for i in range(n)
    ]
    records = [rec(f"r{i:04d}", notes=f'Zoë ✓ "q" \\ {i}', employees=i / 7) for i in range(n)]
    store.log_decisions(CRM, decisions, records)
    frame = store.decisions_frame(CRM)
    assert list(frame["record_id"]) == [f"r{i:04d}" for i in range(n)]  # id order = given order
    assert [float(c) for c in frame["confidence"]] == [p[0] for p in probs]
    assert [c[1]["probability"] for c in frame["candidates"]] == [p[1] for p in probs]
    assert list(frame["notes"]) == [r["notes"] for r in records]
    assert list(frame["employees"]) == [r["employees"] for r in records]
    assert set(frame["decided_at"]) == {"2026-03-01T10:00:00.000Z"}
    assert len(store.decisions_frame(CRM, since="2026-03-01T10:00:00.000Z")) == n
    assert len(store.decisions_frame(CRM, since="2026-03-01T10:00:00.001Z")) == 0
    top = store.deferred(CRM, limit=1)[0]
    assert top["defer_reason"] == "novel"
    assert top["priority"] == label_priority("novel", top["candidates"])


@pytest.mark.parametrize("n", [3, 450])
def test_group_writer_commits_small_and_large_batches_in_order(tmp_path, n):
    """The SQLite writer's two ways: one INSERT (≤ 64 rows) or a transaction of several."""
    s = DecisionStore.from_url(f"sqlite:///{tmp_path / 'g.db'}", group_commit=True)
    s.migrate()
    try:
        s.log_decisions(
            CRM, [dec(f"w{i:03d}") for i in range(n)], [rec(f"w{i:03d}") for i in range(n)]
        )
        assert list(s.decisions_frame(CRM)["record_id"]) == [f"w{i:03d}" for i in range(n)]
        assert s.commits == 1
    finally:
        s.close()


def _queue_with_ties_and_no_priority(store) -> None:
    """Ten deferred records in three priority ties, then two logged without a priority."""
    probs = [(0.5, 0.4)] * 4 + [(0.6, 0.3)] * 4 + [(0.45, 0.44)] * 2
    ids = [f"r{i}" for i in range(len(probs))]
    store.log_decisions(
        CRM, [dec(r, probs=p) for r, p in zip(ids, probs, strict=True)], [rec(r) for r in ids]
    )
    rows = [log_row("crm", decision_json(dec(f"n{i}")), rec(f"n{i}")) for i in range(2)]
    store.log_rows([row | {"priority": None} for row in rows])


def test_keyset_pages_never_skip_a_record_while_records_are_labelled(store):
    _queue_with_ties_and_no_priority(store)
    whole = [i["record_id"] for i in store.deferred(CRM, limit=100)]
    assert len(whole) == 12 and whole[-2:] == ["n1", "n0"]  # no priority: last, on both backends

    seen: list[str] = []
    after = None
    while items := store.deferred(CRM, limit=3, after=after):
        seen += [i["record_id"] for i in items]
        store.upsert_labels(CRM, [(items[0]["record_id"], "merge_duplicate")])
        after = key_of(items[-1])
    assert seen == whole  # every record once, in the queue's order


def test_offset_pages_skip_records_while_records_are_labelled(store):
    """What the cursor replaced: the same reviewer with offsets misses records."""
    _queue_with_ties_and_no_priority(store)
    seen: list[str] = []
    offset = 0
    while items := store.deferred(CRM, limit=offset + 3)[offset:]:
        seen += [i["record_id"] for i in items]
        store.upsert_labels(CRM, [(items[0]["record_id"], "merge_duplicate")])
        offset += len(items)
    assert len(seen) < 12
