"""The labelling queues: deferred decisions, and audited ones, without a label.

Only the latest decision per record counts (a later automatic decision takes a record out), and a
labelled record leaves the queue. The deferred queue's order is the `priority` stored with each
deferred decision (`model/queue_priority.py`: how much its label would teach), then recency. The
audit queue is oldest first: the precision guard's test stays valid when audits are labelled in
decision order, not when the wrong ones are reported first (model/guard.py, "Order").
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoresolve.service.decision_codec import decision_json
from autoresolve.service.store.reads import read_rows, read_scalar
from autoresolve.service.store.tables import decisions, labels


def _latest_unlabelled(name: str) -> sa.ColumnElement[bool]:
    later = decisions.alias("later")
    no_later = ~sa.exists().where(
        later.c.domain == decisions.c.domain,
        later.c.record_id == decisions.c.record_id,
        later.c.id > decisions.c.id,
    )
    no_label = ~sa.exists().where(
        labels.c.domain == decisions.c.domain, labels.c.record_id == decisions.c.record_id
    )
    return sa.and_(decisions.c.domain == name, no_later, no_label)


def _in_queue(name: str) -> sa.ColumnElement[bool]:
    return sa.and_(_latest_unlabelled(name), decisions.c.outcome == "deferred")


def _in_audit(name: str) -> sa.ColumnElement[bool]:
    return sa.and_(_latest_unlabelled(name), decisions.c.audit.is_(True))


def deferred(engine: Engine, name: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """A page of the queue: each decision's JSON with its `priority` and `record`."""
    q = (
        sa.select(decisions)
        .where(_in_queue(name))
        .order_by(decisions.c.priority.desc(), decisions.c.id.desc())
        .limit(max(0, int(limit)))
        .offset(max(0, int(offset)))
    )
    return [
        decision_json(row) | {"priority": row["priority"], "record": row["record"]}
        for row in read_rows(engine, q, "reading the deferred queue")
    ]


def queue_depth(engine: Engine, name: str) -> int:
    q = sa.select(sa.func.count()).select_from(decisions).where(_in_queue(name))
    return int(read_scalar(engine, q, "counting the deferred queue"))


def audits(engine: Engine, name: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """A page of the audit queue, oldest first: each decision's JSON with its `record`."""
    q = (
        sa.select(decisions)
        .where(_in_audit(name))
        .order_by(decisions.c.id)
        .limit(max(0, int(limit)))
        .offset(max(0, int(offset)))
    )
    return [
        decision_json(row) | {"priority": None, "record": row["record"]}
        for row in read_rows(engine, q, "reading the audit queue")
    ]


def audit_depth(engine: Engine, name: str) -> int:
    q = sa.select(sa.func.count()).select_from(decisions).where(_in_audit(name))
    return int(read_scalar(engine, q, "counting the audit queue"))
