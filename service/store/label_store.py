"""Labels: the true resolutions that arrive after a decision, upserted by record id.

A label belongs to the decision it labels: when first written it is bound (`decision_id`) to the
newest decision logged for its record, and keeps that binding when its resolution changes, so a
later decision for the same id (a re-sent record is a new decision) never changes what the label
trains on. A label for a record never decided stays unbound and pairs with the first decision
logged for it (`frames.py`); the answer names such ids, and the ids given twice in one call.

The same label twice changes nothing; every change is kept in `label_history`. Label writes of
one domain are serialised (a write lock taken first on SQLite, an advisory lock on PostgreSQL),
so concurrent labels for one record keep `previous` right. With a Domain, a call with one
unknown resolution is refused whole (nothing written).
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from autoresolve.model.domain import Domain, suggest
from autoresolve.service.store.errors import LabelError, unavailable
from autoresolve.service.store.reads import read_rows
from autoresolve.service.store.tables import decisions, label_history, labels

log = logging.getLogger(__name__)

_CHUNK = 500
_ATTEMPTS = 3
SHOWN_IDS = 100  # ids listed in an answer; the counts are complete


@dataclass(frozen=True)
class LabelResult:
    inserted: int
    updated: int
    unchanged: int
    unknown: tuple[str, ...] = ()  # ids with no decision logged: kept, trained on once decided
    repeated: tuple[str, ...] = ()  # ids given more than once in the call: the last one counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unknown": len(self.unknown),
            "unknown_record_ids": list(self.unknown[:SHOWN_IDS]),
            "repeated": len(self.repeated),
            "repeated_record_ids": list(self.repeated[:SHOWN_IDS]),
        }


@dataclass(frozen=True)
class CheckedLabels:
    """record id → resolution (the last one given wins), and the ids given more than once."""

    latest: dict[str, str]
    repeated: tuple[str, ...]


def checked_labels(domain: Domain | str, pairs: Iterable[tuple[Any, Any]]) -> CheckedLabels:
    """The labels of one call; LabelError names the first bad pair."""
    name = domain.name if isinstance(domain, Domain) else str(domain)
    latest: dict[str, str] = {}
    repeated: dict[str, None] = {}
    for i, (rid, res) in enumerate(pairs):
        if rid is None or (isinstance(rid, float) and math.isnan(rid)) or str(rid) == "":
            raise LabelError(f"label {i} has no record_id.", field="record_id", index=i)
        if not isinstance(res, str) or not res:
            raise LabelError(f"label {i} (record {rid}) has no resolution (got {res!r}).", index=i)
        if isinstance(domain, Domain) and res not in domain.resolutions:
            raise LabelError(
                f"label {i} (record {rid}): unknown resolution '{res}' for domain "
                f"'{name}'.{suggest(res, domain.resolutions)} "
                f"Allowed values: {', '.join(domain.resolutions)}.",
                index=i,
            )
        if str(rid) in latest:
            repeated[str(rid)] = None
        latest[str(rid)] = res
    return CheckedLabels(latest, tuple(repeated))


# Called inside the labels' transaction with the records labelled for the first time, in the
# order given (the precision guard folds them into its state there: see guard_store.py).
AfterInsert = Callable[[sa.Connection, list[tuple[str, str]]], None]


def upsert_labels(
    engine: Engine,
    name: str,
    checked: CheckedLabels,
    source: str,
    now: datetime | None = None,
    after: AfterInsert | None = None,
) -> LabelResult:
    """Write checked labels in one transaction, retrying a race with another writer."""
    when = now or datetime.now(UTC)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _write(engine, name, checked, source, when, after)
        except IntegrityError:  # another writer inserted one of these ids meanwhile
            if attempt == _ATTEMPTS:
                raise
            log.info("label upsert raced with another writer; retrying")
        except DBAPIError as exc:
            raise unavailable(exc, "writing labels") from exc
    raise AssertionError("unreachable")


def _write(
    engine: Engine,
    name: str,
    checked: CheckedLabels,
    source: str,
    when: datetime,
    after: AfterInsert | None,
) -> LabelResult:
    counts = [0, 0, 0]  # inserted, updated, unchanged
    unknown: list[str] = []
    latest = checked.latest
    ids = list(latest)
    inserted: list[tuple[str, str]] = []
    with engine.begin() as conn:
        _lock_labels(conn, name)
        for i in range(0, len(ids), _CHUNK):
            chunk = {rid: latest[rid] for rid in ids[i : i + _CHUNK]}
            _write_chunk(conn, name, chunk, source, when, counts, unknown, inserted)
        if after is not None and inserted:
            after(conn, inserted)
    return LabelResult(*counts, unknown=tuple(unknown), repeated=checked.repeated)


def _lock_labels(conn: sa.Connection, name: str) -> None:
    """Serialise the label writes of one domain until the transaction ends.

    Without it two writers read the same current label and both record it as `previous`.
    SQLite: a write as the first statement takes the database's write lock before anything is
    read; PostgreSQL: a transaction-scoped advisory lock keyed by the domain.
    """
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"autoresolve-labels:{name}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    elif conn.dialect.name == "sqlite":
        conn.execute(labels.update().where(sa.false()).values(domain=labels.c.domain))


def _newest_decisions(conn: sa.Connection, name: str, ids: list[str]) -> dict[str, int]:
    """record id → id of its newest decision, for the ids that have one."""
    q = (
        sa.select(decisions.c.record_id, sa.func.max(decisions.c.id))
        .where(decisions.c.domain == name, decisions.c.record_id.in_(ids))
        .group_by(decisions.c.record_id)
    )
    return {rid: int(did) for rid, did in conn.execute(q).all()}


def _write_chunk(
    conn: sa.Connection,
    name: str,
    chunk: dict[str, str],
    source: str,
    when: datetime,
    counts: list[int],
    unknown: list[str],
    inserted: list[tuple[str, str]],
) -> None:
    ids = list(chunk)
    existing = {
        rid: (res, did)
        for rid, res, did in conn.execute(
            sa.select(labels.c.record_id, labels.c.resolution, labels.c.decision_id).where(
                labels.c.domain == name, labels.c.record_id.in_(ids)
            )
        ).all()
    }
    newest = _newest_decisions(conn, name, ids)
    unknown.extend(rid for rid in ids if rid not in newest)
    new_rows, history = [], []
    for rid, res in chunk.items():
        old, bound = existing.get(rid, (None, None))
        if old == res:
            counts[2] += 1
            continue
        decision_id = bound if old is not None else newest.get(rid)
        history.append(
            {"domain": name, "record_id": rid, "resolution": res, "previous": old}
            | {"source": source, "changed_at": when, "decision_id": decision_id}
        )
        if old is None:
            counts[0] += 1
            inserted.append((rid, res))
            new_rows.append(
                {"domain": name, "record_id": rid, "resolution": res, "source": source}
                | {"labelled_at": when, "updated_at": when, "decision_id": decision_id}
            )
        else:
            counts[1] += 1
            conn.execute(
                labels.update()
                .where(labels.c.domain == name, labels.c.record_id == rid)
                .values(resolution=res, source=source, updated_at=when)
            )
    if new_rows:
        conn.execute(labels.insert(), new_rows)
    if history:
        conn.execute(label_history.insert(), history)


def label_history_of(engine: Engine, name: str, record_id: str) -> list[dict[str, Any]]:
    q = (
        sa.select(label_history)
        .where(label_history.c.domain == name, label_history.c.record_id == str(record_id))
        .order_by(label_history.c.id)
    )
    return read_rows(engine, q, "reading label history")
