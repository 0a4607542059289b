"""Labels: the true resolutions that arrive after a decision, upserted by record id.

The same label twice changes nothing; every change is kept in `label_history`. With a Domain, a
call with one unknown resolution is refused whole (nothing written).
"""

from __future__ import annotations

import logging
import math
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
from autoresolve.service.store.tables import label_history, labels

log = logging.getLogger(__name__)

_CHUNK = 500
_ATTEMPTS = 3


@dataclass(frozen=True)
class LabelResult:
    inserted: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def checked_labels(domain: Domain | str, pairs: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    """record id → resolution (the last one given wins); LabelError names the first bad pair."""
    name = domain.name if isinstance(domain, Domain) else str(domain)
    latest: dict[str, str] = {}
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
        latest[str(rid)] = res
    return latest


# Called inside the labels' transaction with the records labelled for the first time, in the
# order given (the precision guard folds them into its state there: see guard_store.py).
AfterInsert = Callable[[sa.Connection, list[tuple[str, str]]], None]


def upsert_labels(
    engine: Engine,
    name: str,
    latest: dict[str, str],
    source: str,
    now: datetime | None = None,
    after: AfterInsert | None = None,
) -> LabelResult:
    """Write checked labels in one transaction, retrying a race with another writer."""
    when = now or datetime.now(UTC)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _write(engine, name, latest, source, when, after)
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
    latest: dict[str, str],
    source: str,
    when: datetime,
    after: AfterInsert | None,
) -> LabelResult:
    counts = [0, 0, 0]  # inserted, updated, unchanged
    ids = list(latest)
    inserted: list[tuple[str, str]] = []
    with engine.begin() as conn:
        for i in range(0, len(ids), _CHUNK):
            chunk = {rid: latest[rid] for rid in ids[i : i + _CHUNK]}
            _write_chunk(conn, name, chunk, source, when, counts, inserted)
        if after is not None and inserted:
            after(conn, inserted)
    return LabelResult(*counts)


def _write_chunk(
    conn: sa.Connection,
    name: str,
    chunk: dict[str, str],
    source: str,
    when: datetime,
    counts: list[int],
    inserted: list[tuple[str, str]],
) -> None:
    existing = dict(
        conn.execute(
            sa.select(labels.c.record_id, labels.c.resolution).where(
                labels.c.domain == name, labels.c.record_id.in_(list(chunk))
            )
        ).all()
    )
    new_rows, history = [], []
    for rid, res in chunk.items():
        old = existing.get(rid)
        if old == res:
            counts[2] += 1
            continue
        history.append(
            {"domain": name, "record_id": rid, "resolution": res, "previous": old}
            | {"source": source, "changed_at": when}
        )
        if old is None:
            counts[0] += 1
            inserted.append((rid, res))
            new_rows.append(
                {"domain": name, "record_id": rid, "resolution": res, "source": source}
                | {"labelled_at": when, "updated_at": when}
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
