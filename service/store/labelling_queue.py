"""The labelling queues: deferred decisions, and audited ones, whose record has no label.

Every deferred decision is an item until its record is labelled: a re-sent record is a new
decision, recorded as such, and a later decision for the same id (resolved or not) never takes a
queued one out. The deferred queue's order is the `priority` stored with each deferred decision
(`model/queue_priority.py`: how much its label would teach; none last), then recency. The audit
queue is oldest first: the precision guard's test stays valid when audits are labelled in
decision order, not when the wrong ones are reported first (model/guard.py, "Order").

Pages are read by keyset, after the (priority, decision id) of the last item seen, never by
offset: records labelled while a reviewer pages leave the queue, and an offset would then skip
as many records as left before it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoresolve.service.decision_codec import decision_json
from autoresolve.service.store.reads import read_rows, read_scalar
from autoresolve.service.store.tables import decisions, labels


def _unlabelled(name: str) -> sa.ColumnElement[bool]:
    no_label = ~sa.exists().where(
        labels.c.domain == decisions.c.domain, labels.c.record_id == decisions.c.record_id
    )
    return sa.and_(decisions.c.domain == name, no_label)


def _in_queue(name: str) -> sa.ColumnElement[bool]:
    return sa.and_(_unlabelled(name), decisions.c.outcome == "deferred")


def _in_audit(name: str) -> sa.ColumnElement[bool]:
    return sa.and_(_unlabelled(name), decisions.c.audit.is_(True))


class QueueKey(NamedTuple):
    """Where an item sits in the queue's order: a page after it starts with the next item."""

    priority: float | None
    decision_id: int


def _after(key: QueueKey) -> sa.ColumnElement[bool]:
    """Items after `key` in the order (priority descending, none last; then id descending)."""
    prio, row = decisions.c.priority, decisions.c.id
    if key.priority is None:
        return sa.and_(prio.is_(None), row < key.decision_id)
    return sa.or_(
        prio < key.priority,
        sa.and_(prio == key.priority, row < key.decision_id),
        prio.is_(None),
    )


def deferred(
    engine: Engine, name: str, limit: int = 50, after: QueueKey | None = None
) -> list[dict[str, Any]]:
    """A page of the queue, after `after` (from the start without it): each decision's JSON with
    its `priority`, `record` and `decision_id` (the row's id; with the priority, its QueueKey)."""
    where = _in_queue(name)
    if after is not None:
        where = sa.and_(where, _after(after))
    q = (
        sa.select(decisions)
        .where(where)
        .order_by(decisions.c.priority.desc().nulls_last(), decisions.c.id.desc())
        .limit(max(0, int(limit)))
    )
    return [
        decision_json(row)
        | {"priority": row["priority"], "record": row["record"], "decision_id": row["id"]}
        for row in read_rows(engine, q, "reading the deferred queue")
    ]


def key_of(item: dict[str, Any]) -> QueueKey:
    """The QueueKey of an item `deferred` returned (a page after it follows it)."""
    return QueueKey(item["priority"], int(item["decision_id"]))


def queue_depth(engine: Engine, name: str) -> int:
    q = sa.select(sa.func.count()).select_from(decisions).where(_in_queue(name))
    return int(read_scalar(engine, q, "counting the deferred queue"))


def audits(
    engine: Engine, name: str, limit: int = 50, after: QueueKey | None = None
) -> list[dict[str, Any]]:
    """A page of the audit queue, oldest first, after `after` (only its decision id counts):
    each decision's JSON with its `record` and `decision_id`."""
    where = _in_audit(name)
    if after is not None:
        where = sa.and_(where, decisions.c.id > after.decision_id)
    q = sa.select(decisions).where(where).order_by(decisions.c.id).limit(max(0, int(limit)))
    return [
        decision_json(row) | {"priority": None, "record": row["record"], "decision_id": row["id"]}
        for row in read_rows(engine, q, "reading the audit queue")
    ]


def audit_depth(engine: Engine, name: str) -> int:
    q = sa.select(sa.func.count()).select_from(decisions).where(_in_audit(name))
    return int(read_scalar(engine, q, "counting the audit queue"))
