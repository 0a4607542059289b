"""`DecisionStore`: the one object the service, the CLI and the replay hold; each job it offers
lives in its own module of this package."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from autoresolve.model.decision import Decision
from autoresolve.model.domain import Domain
from autoresolve.service.decision_codec import decision_json, jsonable, log_row
from autoresolve.service.store.engine import make_engine
from autoresolve.service.store.errors import StoreUnavailable, unavailable
from autoresolve.service.store.frames import decisions_frame, labelled_frame
from autoresolve.service.store.guard_store import guard_seq, read_guard, read_guards
from autoresolve.service.store.health import CommitHealth, FileIdentity
from autoresolve.service.store.label_store import (
    AfterInsert,
    LabelResult,
    checked_labels,
    label_history_of,
    upsert_labels,
)
from autoresolve.service.store.labelling_queue import (
    QueueKey,
    audit_depth,
    audits,
    deferred,
    queue_depth,
)
from autoresolve.service.store.reads import read_rows, read_scalar
from autoresolve.service.store.schema import current_revision, head_revision, is_current, migrate
from autoresolve.service.store.tables import decisions
from autoresolve.service.store.writes import (
    GroupCommit,
    Row,
    RowInserter,
    settle_from,
    write_rows,
)

_GROUP_MAX_ROWS = 500  # larger calls commit on their own, in the caller's thread


def _sqlite_path(engine: Engine) -> Path | None:
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser().resolve()


def _name(domain: Domain | str) -> str:
    return domain.name if isinstance(domain, Domain) else str(domain)


class DecisionStore:
    """Decision log, labels and the deferred queue over one SQLAlchemy engine (thread-safe).

    SQLite (WAL) by default; PostgreSQL by URL, the store for several replicas. A decision is
    committed before `log_decisions` returns, so the HTTP service answers only after its row is
    in the log. On SQLite, `synchronous=NORMAL` in WAL mode survives a crash of the process
    (kill -9) but not a power cut; FULL survives both at the cost of one fsync per commit.

    With `group_commit=True` (the HTTP service), concurrent callers share commits through one
    writer thread (`writes.GroupCommit`); each call still returns only once its rows are
    committed.
    """

    def __init__(
        self, engine: Engine, *, group_commit: bool = False, commit_timeout_s: float | None = None
    ):
        self.engine = engine
        self.commit_timeout_s = commit_timeout_s
        self.identity = FileIdentity(_sqlite_path(engine))
        self.health = CommitHealth()
        self._inserter = RowInserter(engine)
        self._group = (
            GroupCommit(
                engine, self._inserter, before_write=self.identity.check, health=self.health
            )
            if group_commit
            else None
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 5_000,
        synchronous: str = "NORMAL",
        group_commit: bool = False,
        commit_timeout_s: float | None = None,
    ) -> DecisionStore:
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
        return cls(engine, group_commit=group_commit, commit_timeout_s=commit_timeout_s)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
            self._group = None
        self.engine.dispose()

    # -- schema (schema.py) -------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (default: the newest), keeping existing data."""
        migrate(self.engine, revision)

    def current_revision(self) -> str | None:
        return current_revision(self.engine)

    def head_revision(self) -> str | None:
        return head_revision(self.engine)

    def is_current(self) -> bool:
        return is_current(self.engine)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers, holds the current schema and is
        still the file it opened (SQLite)."""
        self.identity.check()
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(decisions).where(sa.false()))
        except DBAPIError as exc:
            raise unavailable(exc, "checking the store") from exc

    # -- decisions (writes.py) ----------------------------------------------------------------

    def log_decisions(
        self,
        domain: Domain | str,
        decisions_: Sequence[Decision | Mapping[str, Any]],
        records: Sequence[Mapping[str, Any]],
    ) -> int:
        """Append decisions with their records in one transaction; durable when this returns."""
        if len(decisions_) != len(records):
            raise ValueError(
                f"log_decisions got {len(decisions_)} decisions but {len(records)} records; "
                "pass one record per decision, in the same order."
            )
        name = _name(domain)
        return self.log_rows(
            [
                log_row(name, decision_json(d), jsonable(dict(r)))
                for d, r in zip(decisions_, records, strict=True)
            ]
        )

    def log_rows(self, rows: Sequence[Row]) -> int:
        """Append rows (`decision_codec.log_row`); durable when this returns."""
        if not rows:
            return 0
        bound = [self._inserter.bound(r) for r in rows]
        if self._group is not None and len(rows) <= _GROUP_MAX_ROWS:
            self._group.submit(bound, self.commit_timeout_s)
        else:
            self.identity.check()
            write_rows(self.engine, self._inserter, bound)
        return len(rows)

    def log_rows_into(self, rows: list[Row], future: asyncio.Future) -> None:
        """`log_rows` without blocking the event loop: `future` (of the running loop) is settled
        when the rows are committed (result None) or have failed (StoreUnavailable)."""
        if self._group is not None and len(rows) <= _GROUP_MAX_ROWS:
            self._group.submit_into([self._inserter.bound(r) for r in rows], future)
            return
        task = future.get_loop().run_in_executor(None, self.log_rows, rows)
        task.add_done_callback(settle_from(future))

    def problems(self, stall_s: float | None = None) -> list[str]:
        """Why the store cannot make anything durable now (empty: it can, as far as it knows).

        No database round trip beyond `ping`'s: the file's identity, the writer's last commit
        and how long its current one has run (`stall_s`, default the commit timeout).
        """
        out = []
        try:
            self.ping()
        except StoreUnavailable as exc:
            out.append(str(exc))
        out += self.health.problems(stall_s if stall_s is not None else self.commit_timeout_s or 0)
        return out

    @property
    def commits(self) -> int:
        """Commits made by the writer thread so far (0 without group commit)."""
        return self._group.commits if self._group is not None else 0

    def count_decisions(self, domain: Domain | str) -> int:
        q = sa.select(sa.func.count()).where(decisions.c.domain == _name(domain))
        return int(read_scalar(self.engine, q, "counting decisions"))

    def decided_ids(self, domain: Domain | str) -> set[str]:
        q = sa.select(decisions.c.record_id).where(decisions.c.domain == _name(domain))
        return {r["record_id"] for r in read_rows(self.engine, q, "reading decisions")}

    # -- labels (label_store.py) ------------------------------------------------------------

    def upsert_labels(
        self,
        domain: Domain | str,
        pairs: Iterable[tuple[Any, Any]],
        source: str = "api",
        *,
        now: datetime | None = None,
        after: AfterInsert | None = None,
    ) -> LabelResult:
        """Insert or change labels by record id; the same label twice changes nothing.

        A new label is bound to the newest decision of its record (`label_store.py`); the result
        names ids never decided and ids given twice. Every change is kept in `label_history`.
        With a Domain, resolutions are checked against its list and the whole call is refused
        (nothing written) if one is unknown. `after` runs in the same transaction with the
        records labelled for the first time.
        """
        checked = checked_labels(domain, pairs)
        self.identity.check()
        return upsert_labels(self.engine, _name(domain), checked, str(source), now, after)

    def label_history_of(self, domain: Domain | str, record_id: str) -> list[dict[str, Any]]:
        return label_history_of(self.engine, _name(domain), record_id)

    # -- queue (labelling_queue.py) and frames (frames.py) -----------------------------------

    def deferred(
        self, domain: Domain | str, limit: int = 50, after: QueueKey | None = None
    ) -> list[dict]:
        """Deferred, unlabelled records (latest decision each), most instructive first; a page
        after `after` (`labelling_queue.key_of` the last item seen) when given."""
        return deferred(self.engine, _name(domain), limit, after)

    def queue_depth(self, domain: Domain | str) -> int:
        return queue_depth(self.engine, _name(domain))

    def audits(
        self, domain: Domain | str, limit: int = 50, after: QueueKey | None = None
    ) -> list[dict]:
        """Audited, unlabelled decisions (latest decision each), oldest first; a page after
        `after` when given."""
        return audits(self.engine, _name(domain), limit, after)

    def audit_depth(self, domain: Domain | str) -> int:
        return audit_depth(self.engine, _name(domain))

    # -- the precision guard (guard_store.py) -----------------------------------------------

    def guard_seq(self, domain: Domain | str, version: str) -> int | None:
        return guard_seq(self.engine, _name(domain), version)

    def read_guard(self, domain: Domain | str, version: str) -> dict[str, Any] | None:
        return read_guard(self.engine, _name(domain), version)

    def read_guards(self, domain: Domain | str) -> list[dict[str, Any]]:
        return read_guards(self.engine, _name(domain))

    def decisions_frame(self, domain: Domain | str, since: Any = None) -> pd.DataFrame:
        """Every logged decision (DECISION_COLUMNS) with its record's fields as further columns."""
        return decisions_frame(self.engine, _name(domain), since)

    def labelled_frame(self, domain: Domain | str, since: Any = None) -> pd.DataFrame:
        """Labelled records the service decided, with the latest decision (`frames.py`)."""
        return labelled_frame(self.engine, domain, since)
