"""The decision store: every decision with its record, the labels that arrive later, the queue.

SQLite (WAL) by default, PostgreSQL by URL; the schema is owned by the alembic migrations in
`service/migrations` and `DecisionStore.migrate()` brings any store up to date, keeping its data.

Durability: a decision is committed before `log_decisions` returns, so the HTTP handler answers only
after the row is in the log. On SQLite, `synchronous=NORMAL` in WAL mode survives a crash of the
process (kill -9) but not a power cut; `AUTORESOLVE_SQLITE_SYNCHRONOUS=FULL` survives both at the
cost of one fsync per commit. PostgreSQL commits are durable with its own defaults.

On a SQLite file the scoring endpoint's rows are committed by a writer process of each worker
(`service/log_process.py`, `writer_process=True`) with the same INSERTs (`service/sqlite_log.py`);
SQLAlchemy keeps the engine, the schema and every read.

The deferred queue is ordered by how much a label would teach (`priority`, computed when the
decision is logged), then by recency:
  - `novel` deferrals first (2 + 1 − top probability): the record lies outside what the model has
    seen, so its label widens the region the model can certify;
  - `low_confidence` / `no_model` next (1 + 1 − margin between the two best candidates): the
    smaller the margin, the closer the record sits to a decision boundary (margin sampling);
  - `rule` deferrals after those (0.5): a rule sent them to a person on purpose;
  - `invalid` last (0).
Only the latest decision per record counts, and a labelled record leaves the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from autoresolve.model.decision import DECISION_COLUMNS, Decision
from autoresolve.model.domain import Domain, suggest
from autoresolve.service import sqlite_log
from autoresolve.service.log_process import LogProcess

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

metadata = sa.MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("resolution", sa.String(200)),
    sa.Column("source", sa.String(16)),
    sa.Column("rule_id", sa.String(200)),
    sa.Column("confidence", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("defer_reason", sa.String(32)),
    sa.Column("candidates", sa.JSON),
    sa.Column("policy_version", sa.String(200), nullable=False),
    sa.Column("decided_at", _When, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("priority", sa.Float),
    sa.Index("ix_decisions_domain_record", "domain", "record_id", "id"),
    sa.Index("ix_decisions_domain_decided", "domain", "decided_at"),
    sa.Index("ix_decisions_queue", "domain", "outcome", "priority"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("resolution", sa.String(200), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("labelled_at", _When, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
    sa.UniqueConstraint("domain", "record_id", name="uq_labels_domain_record"),
)

label_history = sa.Table(
    "label_history",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("resolution", sa.String(200), nullable=False),
    sa.Column("previous", sa.String(200)),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("changed_at", _When, nullable=False),
    sa.Index("ix_label_history_record", "domain", "record_id"),
)

_CHUNK = 500
_MIGRATE_LOCK = threading.Lock()


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or is locked; nothing was written. Retry later."""


class LabelError(ValueError):
    """A label that cannot be accepted; names the record, the value and the allowed values."""

    def __init__(self, message: str, *, field: str = "resolution", index: int | None = None):
        self.field = field
        self.index = index
        super().__init__(message)


@dataclass(frozen=True)
class LabelResult:
    inserted: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def _now() -> datetime:
    return datetime.now(UTC)


def _as_datetime(value: Any) -> datetime:
    if value is None or value == "":
        return _now()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.to_pydatetime()


def _jsonable(value: Any) -> Any:
    """Records may carry timestamps, numpy scalars and NaN; the log stores plain JSON."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if pd.isna(value):
        return None
    return str(value)


def _candidates(value: Any) -> list[dict[str, Any]]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        value = json.loads(value) if value else []
    out = []
    for c in value:
        if isinstance(c, Mapping):
            out.append({"resolution": str(c["resolution"]), "probability": float(c["probability"])})
        else:
            out.append({"resolution": str(c.resolution), "probability": float(c.probability)})
    return out


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def label_priority(defer_reason: str | None, candidates: Sequence[Mapping[str, Any]]) -> float:
    """How much a label for this deferred record would teach (see the module docstring)."""
    probs = sorted((float(c["probability"]) for c in candidates), reverse=True)
    top = probs[0] if probs else 0.0
    margin = top - (probs[1] if len(probs) > 1 else 0.0)
    if defer_reason == "novel":
        return 2.0 + (1.0 - top)
    if defer_reason in ("low_confidence", "no_model"):
        return 1.0 + (1.0 - margin)
    if defer_reason == "rule":
        return 0.5
    return 0.0


LogRow = tuple[Any, ...]
"""One decisions-table row in insert order (`_COLUMNS`): plain values, `candidates` and `record`
as JSON text, `decided_at` as the policy's ISO text (UTC, 'Z'). Built where the decision is made,
so the writer thread only binds values."""

_COLUMNS = sqlite_log.LOG_COLUMNS


def decision_row(
    domain: str, decision: Decision | Mapping[str, Any], record: Mapping, *, plain: bool = False
) -> LogRow:
    """A decisions-table row from any decision (a Decision, a decide_frame row, a dict).

    `plain`: the record is already plain JSON (validated HTTP input).
    """
    d = decision.to_dict() if isinstance(decision, Decision) else dict(decision)
    cands = _candidates(d.get("candidates"))
    outcome = str(d["outcome"])
    reason = _text(d.get("defer_reason"))
    return (
        domain,
        str(d["record_id"]),
        outcome,
        _text(d.get("resolution")),
        _text(d.get("source")),
        _text(d.get("rule_id")),
        _finite(d.get("confidence")),
        _finite(d.get("threshold")),
        reason,
        _dump(cands),
        str(d.get("policy_version") or ""),
        _iso(_as_datetime(d.get("decided_at"))),
        _dump(dict(record) if plain else _jsonable(dict(record))),
        label_priority(reason, cands) if outcome == "deferred" else None,
    )


def row_of(domain: str, out: Mapping[str, Any], record_json: str) -> LogRow:
    """`decision_row` for the HTTP hot path: `out` is already in DecisionOut's JSON shape (clean
    values) and the record already JSON text, so only the candidates are serialised here."""
    cands = out["candidates"]
    reason = out["defer_reason"]
    deferred = out["outcome"] == "deferred"
    return (
        domain,
        out["record_id"],
        out["outcome"],
        out["resolution"],
        out["source"],
        out["rule_id"],
        out["confidence"],
        out["threshold"],
        reason,
        _dump(cands),
        out["policy_version"],
        out["decided_at"] or _iso(_now()),
        record_json,
        label_priority(reason, cands) if deferred else None,
    )


_dump = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # made once, not per call


_POSTGRESQL_INSERT = (
    f"INSERT INTO decisions ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608
    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s::json,%s,%s::timestamptz,%s::json,%s)"
)


def _insert_rows(conn: sa.Connection, rows: Sequence[LogRow]) -> None:
    """Append rows to `decisions` inside the caller's transaction.

    SQLite: multi-row INSERTs of 512, 256, … 1 rows, so a commit of n rows runs at most ten
    statements (each prepared once and cached by the driver) and the writer thread gives up and
    takes back the GIL per statement, not per row. PostgreSQL: the driver's executemany
    (pipelined by psycopg). Other backends: SQLAlchemy's portable insert.
    """
    name = conn.dialect.name
    if name == "sqlite":
        dbapi = conn.dialect.loaded_dbapi
        cur = conn.connection.driver_connection.cursor()
        try:
            sqlite_log.insert_all(cur.execute, rows)
        except dbapi.Error as exc:  # as SQLAlchemy would have wrapped it
            raise DBAPIError.instance("INSERT INTO decisions", None, exc, dbapi.Error) from exc
        finally:
            cur.close()
    elif name == "postgresql":
        conn.exec_driver_sql(_POSTGRESQL_INSERT, list(rows))
    else:
        conn.execute(decisions.insert(), [_as_insert_dict(r) for r in rows])


def _as_insert_dict(row: LogRow) -> dict[str, Any]:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["decided_at"] = _as_datetime(d["decided_at"])
    d["candidates"] = json.loads(d["candidates"])
    d["record"] = json.loads(d["record"])
    return d


class _SQLiteWriter:
    """The writer thread's own SQLite connection, in autocommit mode.

    A commit of up to 64 rows is one INSERT statement, which SQLite runs as its own transaction:
    the thread gives up and takes back the GIL once per commit. Each hand-over between threads
    costs tens of µs of CPU on this kind of (virtualised) machine, and `BEGIN`, the INSERTs and
    `COMMIT` through SQLAlchemy were about ten of them per commit. Larger commits use an explicit
    transaction around the 512/256/… row statements.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._conn: Any = None

    def write(self, rows: Sequence[LogRow]) -> None:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
            self._conn.driver_connection.isolation_level = None
        try:
            sqlite_log.commit_rows(self._conn.driver_connection, rows)
        except Exception as exc:
            self.close()  # a fresh connection next time, whatever state this one is in
            dbapi = self.engine.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                raise DBAPIError.instance("INSERT INTO decisions", None, exc, dbapi.Error) from exc
            raise

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
            self._conn = None


def _domain_name(domain: Domain | str) -> str:
    return domain.name if isinstance(domain, Domain) else str(domain)


def _unavailable(exc: Exception, doing: str) -> StoreUnavailable:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__
    return StoreUnavailable(
        f"decision store unavailable while {doing} ({type(orig).__name__}: {first}); "
        "nothing was written — retry later."
    )


def _log_unavailable(reason: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"decision store unavailable while logging decisions ({reason}); retry later."
    )


def make_engine(url: str | URL, *, busy_timeout_ms: int = 5_000, synchronous: str = "NORMAL"):
    """An engine with the settings each backend needs for several writers."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            u,
            connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False},
            pool_size=8,
            max_overflow=32,
        )
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"sqlite synchronous must be NORMAL or FULL, got {synchronous!r}")

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            sqlite_log.set_pragmas(
                dbapi_conn, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
            )

        return engine
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(u, pool_pre_ping=True, pool_size=8, max_overflow=16)
    if u.get_backend_name() == "postgresql":

        @event.listens_for(engine, "connect")
        def _timeouts(dbapi_conn, _record) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_conn.commit()

    return engine


def _settle_all(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(None)


class GroupCommit:
    """One writer thread that commits the decisions of all concurrent requests together.

    A caller blocks until the transaction holding its rows has committed (or failed), so the
    guarantee is unchanged — logged before answered — while one commit serves many requests.
    """

    def __init__(self, engine: Engine, max_rows: int = 2_000):
        self.engine = engine
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._sqlite = _SQLiteWriter(engine) if engine.dialect.name == "sqlite" else None
        self.commits = 0  # transactions committed so far (tests, diagnostics)
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def submit(self, rows: list[LogRow]) -> None:
        done = threading.Event()
        slot: list[BaseException | None] = [None]
        self._queue.put((rows, done, slot))
        done.wait()
        if slot[0] is not None:
            raise slot[0]

    def submit_into(self, rows: list[LogRow], future: asyncio.Future) -> None:
        """Hand rows straight to the writer; `future` (of the running loop) is settled once they
        are committed or have failed. For callers that already batch one loop turn."""
        self._queue.put((rows, [future], None))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            n = len(item[0])
            while n < self.max_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
                n += len(nxt[0])
            error: BaseException | None = None
            try:
                self._write([r for rows, _, _ in batch for r in rows])
                self.commits += 1
            except DBAPIError as exc:
                error = _unavailable(exc, "logging decisions")
            except Exception as exc:  # never leave a caller waiting
                error = exc
            self._notify(batch, error)

    def _write(self, rows: list[LogRow]) -> None:
        if self._sqlite is not None:
            self._sqlite.write(rows)
        else:
            with self.engine.begin() as conn:
                _insert_rows(conn, rows)

    @staticmethod
    def _notify(batch: list, error: BaseException | None) -> None:
        """Wake every waiter; one wake-up per event loop, not one per request."""
        by_loop: dict[Any, list[asyncio.Future]] = {}
        for _, waiter, slot in batch:
            if isinstance(waiter, list):  # futures of an event loop (see submit_into)
                if waiter:
                    by_loop.setdefault(waiter[0].get_loop(), []).extend(waiter)
            else:  # a thread blocked in submit()
                slot[0] = error
                waiter.set()
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_all, futures, error)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self._sqlite is not None:
            self._sqlite.close()


class DecisionStore:
    """Decision log, labels and the deferred queue over one SQLAlchemy engine (thread-safe).

    With `group_commit=True` (the HTTP service), concurrent `log_decisions` calls share commits
    through one writer thread; each call still returns only once its rows are committed.
    """

    def __init__(
        self, engine: Engine, *, group_commit: bool = False, writer: LogProcess | None = None
    ):
        self.engine = engine
        self._group = GroupCommit(engine) if group_commit else None
        self._process = writer

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 5_000,
        synchronous: str = "NORMAL",
        group_commit: bool = False,
        writer_process: bool = False,
    ) -> DecisionStore:
        """`writer_process`: on a SQLite file, `log_rows_into` (the scoring endpoint) commits
        through a writer process (`service.log_process`) instead of the writer thread."""
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
        database = engine.url.database
        writer = None
        if (
            writer_process
            and engine.dialect.name == "sqlite"
            and database not in (None, "", ":memory:")
        ):
            writer = LogProcess(
                str(Path(database).expanduser().resolve()),
                synchronous=synchronous,
                busy_timeout_ms=busy_timeout_ms,
                unavailable=_log_unavailable,
            )
        return cls(engine, group_commit=group_commit, writer=writer)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
        if self._group is not None:
            self._group.close()
            self._group = None
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------

    def _alembic_config(self, connection):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (default: the newest), keeping existing data.

        Several workers or replicas may start at once: alembic is not thread-safe (a process
        lock), SQLite files get an exclusive file lock beside them, PostgreSQL an advisory lock.
        """
        from alembic import command

        if revision == "head" and self.is_current():
            return
        try:
            with _MIGRATE_LOCK, self._file_lock(), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(77215001)"))
                command.upgrade(self._alembic_config(conn), revision)
        except SQLAlchemyError as exc:
            if revision == "head" and self.is_current():
                return
            raise _unavailable(exc, "migrating the schema") from exc

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        db = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not db or db == ":memory:":
            yield
            return
        with open(f"{db}.migrate-lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            return ScriptDirectory.from_config(self._alembic_config(conn)).get_current_head()

    def is_current(self) -> bool:
        try:
            return self.current_revision() == self.head_revision()
        except SQLAlchemyError:
            return False

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers and holds the current schema."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(labels).where(sa.false()))
        except DBAPIError as exc:
            raise _unavailable(exc, "checking the store") from exc

    # -- decisions ----------------------------------------------------------------------------

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
        name = _domain_name(domain)
        return self.log_rows(
            [decision_row(name, d, r) for d, r in zip(decisions_, records, strict=True)]
        )

    def log_rows(self, rows: Sequence[LogRow]) -> int:
        """Append rows (`decision_row`); durable when this returns."""
        if not rows:
            return 0
        if self._group is not None and len(rows) <= _CHUNK:
            self._group.submit(list(rows))
            return len(rows)
        try:
            with self.engine.begin() as conn:
                for i in range(0, len(rows), _CHUNK):
                    _insert_rows(conn, rows[i : i + _CHUNK])
        except DBAPIError as exc:
            raise _unavailable(exc, "logging decisions") from exc
        return len(rows)

    def start_log_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer process for `loop` now rather than at the first decision."""
        if self._process is not None and self._process.serves(loop):
            try:
                self._process.start(loop)
            except OSError as exc:  # the first decision tries again, and fails with a 503
                log.error("decision-log writer process did not start: %s", exc)

    def log_rows_into(self, rows: list[LogRow], future: asyncio.Future) -> None:
        """`log_rows` without waiting: `future` (of the running loop) is settled when the rows are
        committed (result None) or have failed (StoreUnavailable)."""
        writer = self._process
        if writer is not None and len(rows) <= _CHUNK and writer.serves(future.get_loop()):
            writer.submit_into(rows, future)
            return
        if self._group is not None and len(rows) <= _CHUNK:
            self._group.submit_into(rows, future)
            return

        def done(task: asyncio.Future) -> None:
            if future.done():
                return
            if task.cancelled() or task.exception() is None:
                future.set_result(None)
            else:
                future.set_exception(task.exception())

        future.get_loop().run_in_executor(None, self.log_rows, rows).add_done_callback(done)

    def count_decisions(self, domain: Domain | str) -> int:
        q = sa.select(sa.func.count()).where(decisions.c.domain == _domain_name(domain))
        return int(self._scalar(q, "counting decisions"))

    def decided_ids(self, domain: Domain | str) -> set[str]:
        q = sa.select(decisions.c.record_id).where(decisions.c.domain == _domain_name(domain))
        try:
            with self.engine.connect() as conn:
                return {r[0] for r in conn.execute(q)}
        except DBAPIError as exc:
            raise _unavailable(exc, "reading decisions") from exc

    def _scalar(self, query, doing: str) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(query).scalar_one()
        except DBAPIError as exc:
            raise _unavailable(exc, doing) from exc

    # -- labels -------------------------------------------------------------------------------

    def upsert_labels(
        self,
        domain: Domain | str,
        pairs: Iterable[tuple[Any, Any]],
        source: str = "api",
        *,
        now: datetime | None = None,
    ) -> LabelResult:
        """Insert or change labels by record id; the same label twice changes nothing.

        Every change is kept in `label_history`. With a Domain, resolutions are checked against
        its list and the whole call is refused (nothing written) if one is unknown.
        """
        name = _domain_name(domain)
        latest: dict[str, str] = {}
        for i, (rid, res) in enumerate(pairs):
            if rid is None or (isinstance(rid, float) and math.isnan(rid)) or str(rid) == "":
                raise LabelError(f"label {i} has no record_id.", field="record_id", index=i)
            if not isinstance(res, str) or not res:
                raise LabelError(
                    f"label {i} (record {rid}) has no resolution (got {res!r}).", index=i
                )
            if isinstance(domain, Domain) and res not in domain.resolutions:
                raise LabelError(
                    f"label {i} (record {rid}): unknown resolution '{res}' for domain "
                    f"'{name}'.{suggest(res, domain.resolutions)} "
                    f"Allowed values: {', '.join(domain.resolutions)}.",
                    index=i,
                )
            latest[str(rid)] = res
        when = now or _now()
        for attempt in range(3):
            try:
                return self._write_labels(name, latest, str(source), when)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("label upsert raced with another writer; retrying")
            except DBAPIError as exc:
                raise _unavailable(exc, "writing labels") from exc
        raise AssertionError("unreachable")

    def _write_labels(
        self, name: str, latest: dict[str, str], source: str, when: datetime
    ) -> LabelResult:
        inserted = updated = unchanged = 0
        ids = list(latest)
        with self.engine.begin() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                existing = dict(
                    conn.execute(
                        sa.select(labels.c.record_id, labels.c.resolution).where(
                            labels.c.domain == name, labels.c.record_id.in_(chunk)
                        )
                    ).all()
                )
                new_rows, history = [], []
                for rid in chunk:
                    res = latest[rid]
                    old = existing.get(rid)
                    if old == res:
                        unchanged += 1
                        continue
                    history.append(
                        {
                            "domain": name,
                            "record_id": rid,
                            "resolution": res,
                            "previous": old,
                            "source": source,
                            "changed_at": when,
                        }
                    )
                    if old is None:
                        inserted += 1
                        new_rows.append(
                            {
                                "domain": name,
                                "record_id": rid,
                                "resolution": res,
                                "source": source,
                                "labelled_at": when,
                                "updated_at": when,
                            }
                        )
                    else:
                        updated += 1
                        conn.execute(
                            labels.update()
                            .where(labels.c.domain == name, labels.c.record_id == rid)
                            .values(resolution=res, source=source, updated_at=when)
                        )
                if new_rows:
                    conn.execute(labels.insert(), new_rows)
                if history:
                    conn.execute(label_history.insert(), history)
        return LabelResult(inserted, updated, unchanged)

    def label_history_of(self, domain: Domain | str, record_id: str) -> list[dict[str, Any]]:
        q = (
            sa.select(label_history)
            .where(
                label_history.c.domain == _domain_name(domain),
                label_history.c.record_id == str(record_id),
            )
            .order_by(label_history.c.id)
        )
        return self._rows(q, "reading label history")

    def _rows(self, query, doing: str) -> list[dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(query)]
        except DBAPIError as exc:
            raise _unavailable(exc, doing) from exc

    # -- queue --------------------------------------------------------------------------------

    def _queue_filter(self, name: str):
        later = decisions.alias("later")
        no_later = ~sa.exists().where(
            later.c.domain == decisions.c.domain,
            later.c.record_id == decisions.c.record_id,
            later.c.id > decisions.c.id,
        )
        no_label = ~sa.exists().where(
            labels.c.domain == decisions.c.domain, labels.c.record_id == decisions.c.record_id
        )
        return sa.and_(
            decisions.c.domain == name, decisions.c.outcome == "deferred", no_later, no_label
        )

    def deferred(self, domain: Domain | str, limit: int = 50, offset: int = 0) -> list[dict]:
        """Deferred, unlabelled records (latest decision each), most instructive first."""
        q = (
            sa.select(decisions)
            .where(self._queue_filter(_domain_name(domain)))
            .order_by(decisions.c.priority.desc(), decisions.c.id.desc())
            .limit(max(0, int(limit)))
            .offset(max(0, int(offset)))
        )
        out = []
        for row in self._rows(q, "reading the deferred queue"):
            out.append(_decision_out(row) | {"priority": row["priority"], "record": row["record"]})
        return out

    def queue_depth(self, domain: Domain | str) -> int:
        q = (
            sa.select(sa.func.count())
            .select_from(decisions)
            .where(self._queue_filter(_domain_name(domain)))
        )
        return int(self._scalar(q, "counting the deferred queue"))

    # -- frames for retraining and reports ----------------------------------------------------

    def decisions_frame(self, domain: Domain | str, since: Any = None) -> pd.DataFrame:
        """Every logged decision (DECISION_COLUMNS) with its record's fields as further columns."""
        q = sa.select(decisions).where(decisions.c.domain == _domain_name(domain))
        if since is not None:
            q = q.where(decisions.c.decided_at >= _as_datetime(since))
        rows = self._rows(q.order_by(decisions.c.id), "reading decisions")
        if not rows:
            return pd.DataFrame(columns=[*DECISION_COLUMNS, "record"])
        base = pd.DataFrame([_decision_out(r) for r in rows], columns=list(DECISION_COLUMNS))
        recs = pd.DataFrame([r["record"] for r in rows])
        recs = recs[[c for c in recs.columns if c not in base.columns]]
        return pd.concat([base, recs], axis=1)

    def labelled_frame(self, domain: Domain | str, since: Any = None) -> pd.DataFrame:
        """Labelled records that the service decided: record fields, the label, `labelled_at`
        (time of the latest label change) and the latest decision as `decision_*` columns.

        The label column is the domain's label name when a Domain is given, else `resolution`.
        """
        name = _domain_name(domain)
        label_col = domain.label if isinstance(domain, Domain) else "resolution"
        d2 = decisions.alias("d2")
        latest = (
            sa.select(sa.func.max(d2.c.id))
            .where(d2.c.domain == labels.c.domain, d2.c.record_id == labels.c.record_id)
            .correlate(labels)
            .scalar_subquery()
        )
        q = (
            sa.select(
                labels.c.record_id.label("_rid"),
                labels.c.resolution.label("_label"),
                labels.c.updated_at.label("_labelled_at"),
                labels.c.source.label("_label_source"),
                decisions,
            )
            .select_from(labels)
            .join(decisions, decisions.c.id == latest)
            .where(labels.c.domain == name)
        )
        if since is not None:
            q = q.where(labels.c.updated_at >= _as_datetime(since))
        rows = self._rows(q.order_by(labels.c.id), "reading labels")
        cols_dec = [f"decision_{c}" for c in DECISION_COLUMNS if c != "record_id"]
        if not rows:
            return pd.DataFrame(columns=[label_col, "labelled_at", "label_source", *cols_dec])
        recs = pd.DataFrame([r["record"] for r in rows])
        recs[label_col] = [r["_label"] for r in rows]
        recs["labelled_at"] = pd.to_datetime([r["_labelled_at"] for r in rows], utc=True)
        recs["label_source"] = [r["_label_source"] for r in rows]
        dec = pd.DataFrame([_decision_out(r) for r in rows], columns=list(DECISION_COLUMNS))
        for c in DECISION_COLUMNS:
            if c != "record_id":
                recs[f"decision_{c}"] = dec[c].to_numpy()
        if isinstance(domain, Domain) and domain.id not in recs.columns:
            recs[domain.id] = [r["_rid"] for r in rows]
        return recs


def _iso(value: Any) -> str:
    """The policy's format: UTC, milliseconds, 'Z'."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def _decision_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row back in the Decision's JSON shape."""
    return {
        "record_id": row["record_id"],
        "outcome": row["outcome"],
        "resolution": row["resolution"],
        "source": row["source"],
        "rule_id": row["rule_id"],
        "confidence": row["confidence"],
        "threshold": row["threshold"],
        "defer_reason": row["defer_reason"],
        "candidates": row["candidates"] or [],
        "policy_version": row["policy_version"],
        "decided_at": _iso(row["decided_at"]),
    }
