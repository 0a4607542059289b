"""The precision guard's rows: one per served policy version, changed only inside a transaction.

A label for an audited decision changes its policy's guard. Two workers (or replicas) taking
labels at once must not lose an observation, and the guard's bets depend on the order of
outcomes, so each change is a read-modify-write of the row in the transaction that writes the
labels: the row is locked first (PostgreSQL: `SELECT … FOR UPDATE`; SQLite: the label insert
has already taken the database's single write lock), so the changes apply one after another in
the order the store commits them. `seq` counts changes: a worker re-reads the row only when the
integer it polls has moved.

What a state means is model/guard.py's; here it is JSON and a few plain columns for reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from autoresolve.service.decision_codec import decision_json
from autoresolve.service.store.errors import unavailable
from autoresolve.service.store.reads import read_rows
from autoresolve.service.store.tables import decisions, guard_states

# What a change writes besides the state: status, threshold, suspended, quarantined, recertify,
# actions (the service computes them from the verdict).
Summary = Mapping[str, Any]


def ensure_guard(engine: Engine, name: str, state: Mapping[str, Any], summary: Summary) -> None:
    """Create the guard row of a newly served version unless a worker already did."""
    version = str(state["policy_version"])
    try:
        with engine.begin() as conn:
            if _row(conn, name, version, lock=False) is None:
                conn.execute(guard_states.insert().values(**_values(name, 0, state, summary)))
    except IntegrityError:
        return  # another worker created it first
    except DBAPIError as exc:
        raise unavailable(exc, "creating the guard state") from exc


def guard_seq(engine: Engine, name: str, version: str) -> int | None:
    """The change counter of a version's guard (None: no row yet): a worker's cheap poll."""
    q = sa.select(guard_states.c.seq).where(
        guard_states.c.domain == name, guard_states.c.policy_version == version
    )
    rows = read_rows(engine, q, "polling the guard state")
    return int(rows[0]["seq"]) if rows else None


def read_guard(engine: Engine, name: str, version: str) -> dict[str, Any] | None:
    q = sa.select(guard_states).where(
        guard_states.c.domain == name, guard_states.c.policy_version == version
    )
    rows = read_rows(engine, q, "reading the guard state")
    return rows[0] if rows else None


def read_guards(engine: Engine, name: str) -> list[dict[str, Any]]:
    """Every guard row of the domain, the most recently changed first (report)."""
    q = (
        sa.select(guard_states)
        .where(guard_states.c.domain == name)
        .order_by(guard_states.c.updated_at.desc())
    )
    return read_rows(engine, q, "reading the guard states")


def audited_decisions(
    conn: sa.Connection, name: str, version: str, record_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """record id → the JSON of its latest decision, for records whose latest decision is an
    audited one of `version` (a later decision of another kind takes a record out)."""
    ids = list(dict.fromkeys(record_ids))
    latest: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        q = (
            sa.select(decisions)
            .where(decisions.c.domain == name, decisions.c.record_id.in_(ids[i : i + 500]))
            .order_by(decisions.c.id)
        )
        for row in conn.execute(q).mappings():
            latest[row["record_id"]] = dict(row)
    return {
        rid: decision_json(row)
        for rid, row in latest.items()
        if row["audit"] and row["policy_version"] == version
    }


def change_guard(
    conn: sa.Connection,
    name: str,
    version: str,
    fresh: Callable[[], tuple[Mapping[str, Any], Summary]],
    change: Callable[[Mapping[str, Any]], tuple[Mapping[str, Any], Summary]],
) -> dict[str, Any]:
    """Lock the version's guard row (creating it from `fresh()` if missing), write `change` of
    its state with seq + 1, and return the new row; in the caller's transaction."""
    row = _row(conn, name, version, lock=True)
    if row is None:
        state, summary = fresh()
        conn.execute(guard_states.insert().values(**_values(name, 0, state, summary)))
        row = _row(conn, name, version, lock=True)
        assert row is not None
    state, summary = change(row["state"])
    values = _values(name, int(row["seq"]) + 1, state, summary)
    if summary["recertify"] and row["recertify_requested_at"] is not None:
        values["recertify_requested_at"] = row["recertify_requested_at"]
    if not values["actions"]:
        values["actions"] = row["actions"]  # what the guard did last stays shown
    conn.execute(
        guard_states.update()
        .where(guard_states.c.domain == name, guard_states.c.policy_version == version)
        .values(**values)
    )
    return {**row, **values}


def _row(conn: sa.Connection, name: str, version: str, *, lock: bool) -> dict[str, Any] | None:
    q = sa.select(guard_states).where(
        guard_states.c.domain == name, guard_states.c.policy_version == version
    )
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    found = conn.execute(q).mappings().first()
    return dict(found) if found is not None else None


def _values(name: str, seq: int, state: Mapping[str, Any], summary: Summary) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "domain": name,
        "policy_version": str(state["policy_version"]),
        "seq": seq,
        "state": dict(state),
        "status": str(summary["status"]),
        "threshold": summary["threshold"],
        "suspended": bool(summary["suspended"]),
        "quarantined": list(summary["quarantined"]),
        "recertify": bool(summary["recertify"]),
        "recertify_requested_at": now if summary["recertify"] else None,
        "actions": list(summary["actions"]),
        "updated_at": now,
    }
