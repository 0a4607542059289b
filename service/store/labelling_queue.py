"""The deferred queue: deferred decisions without a label, the most instructive first.

Every deferred decision is an item until its record is labelled: a re-sent record is a new
decision, recorded as such, and a later decision for the same id (resolved or not) never takes a
queued one out. The order is the `priority` stored with each deferred decision
(`model/queue_priority.py`: how much its label would teach), then recency.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoresolve.service.decision_codec import decision_json
from autoresolve.service.store.reads import read_rows, read_scalar
from autoresolve.service.store.tables import decisions, labels


def _in_queue(name: str) -> sa.ColumnElement[bool]:
    no_label = ~sa.exists().where(
        labels.c.domain == decisions.c.domain, labels.c.record_id == decisions.c.record_id
    )
    return sa.and_(decisions.c.domain == name, decisions.c.outcome == "deferred", no_label)


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
