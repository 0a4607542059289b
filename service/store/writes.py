"""The decision log's write path: multi-row INSERTs, and group commit through one writer thread.

A row is `decision_codec.log_row`'s dict. SQLAlchemy compiles an n-row INSERT once per size and
dialect, its own bind processors turn each value into what the driver stores (the JSON text, the
DATETIME format of SQLite), and the driver runs the statement: one call per commit of up to 64
rows, not one per row, so the writer thread gives up and takes back the GIL once per commit.
Larger commits run statements of 512, 256, … 1 rows inside one transaction.

`GroupCommit` is the writer thread of the HTTP service: the rows of every request waiting at the
moment go into one commit, and each request is answered only once the commit holding its row
has succeeded (or is told it failed: StoreUnavailable, nothing of that commit written).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from autoresolve.service.store.errors import StoreUnavailable, unavailable
from autoresolve.service.store.health import CommitHealth
from autoresolve.service.store.tables import decisions

Row = Mapping[str, Any]
Bound = tuple[Any, ...]  # a row's values as the driver stores them, in `_COLUMNS` order

ONE_STATEMENT_ROWS = 64  # a commit up to this size is one statement
_LARGEST_STATEMENT = 512
_COLUMNS = [c for c in decisions.c if c.name != "id"]


class RowInserter:
    """n-row INSERT statements for one engine's dialect, compiled by SQLAlchemy on first use.

    `bound(row)` turns a row into the values the driver stores, through SQLAlchemy's own bind
    processors, in the caller's thread (for the HTTP service: the event loop, as it builds the
    rows of a turn). The writer thread then only joins and sends them: every moment it holds the
    GIL is a moment the event loop waits for it.
    """

    def __init__(self, engine: Engine):
        dialect = engine.dialect
        self._dialect = dialect
        self._processors = [
            (c.name, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in _COLUMNS
        ]
        self._compiled: dict[int, tuple[str, list[str] | None]] = {}
        self._lock = threading.Lock()

    def bound(self, row: Row) -> Bound:
        return tuple(proc(row[name]) if proc else row[name] for name, proc in self._processors)

    def _statement(self, n: int) -> tuple[str, list[str] | None]:
        """The SQL of an n-row INSERT, and its parameter names unless they are positional."""
        found = self._compiled.get(n)
        if found is None:
            values = [
                {c.name: sa.bindparam(f"{c.name}_{i}", type_=c.type) for c in _COLUMNS}
                for i in range(n)
            ]
            compiled = decisions.insert().values(values).compile(dialect=self._dialect)
            names = None
            if compiled.positiontup is None:
                names = [f"{c.name}_{i}" for i in range(n) for c in _COLUMNS]
            found = (str(compiled), names)
            with self._lock:
                self._compiled[n] = found
        return found

    def execute(self, conn: sa.Connection, rows: Sequence[Bound]) -> None:
        """One INSERT of all `rows` (at most `_LARGEST_STATEMENT`)."""
        sql, names = self._statement(len(rows))
        flat = tuple(itertools.chain.from_iterable(rows))
        conn.exec_driver_sql(sql, flat if names is None else dict(zip(names, flat, strict=True)))

    def insert(self, conn: sa.Connection, rows: Sequence[Bound]) -> None:
        """All `rows` in the caller's transaction: at most ten statements, whatever their number."""
        if len(rows) <= ONE_STATEMENT_ROWS:
            self.execute(conn, rows)
            return
        i, n = 0, len(rows)
        while i < n:
            size = _LARGEST_STATEMENT
            while size > n - i:
                size >>= 1
            self.execute(conn, rows[i : i + size])
            i += size


class CommitTimeout(StoreUnavailable):
    """The store did not confirm a commit in time: the caller is not acknowledged."""

    def __init__(self, timeout_s: float):
        super().__init__(
            f"the decision store did not confirm the commit within {timeout_s:g}s "
            "(AUTORESOLVE_COMMIT_TIMEOUT_S): this decision is not acknowledged (it may still "
            "reach the log later; a retry is logged as a new decision). Retry later."
        )


def write_rows(engine: Engine, inserter: RowInserter, rows: Sequence[Bound]) -> None:
    """Append bound rows in one transaction; durable when this returns."""
    try:
        with engine.begin() as conn:
            inserter.insert(conn, rows)
    except DBAPIError as exc:
        raise unavailable(exc, "logging decisions") from exc


Waiter = tuple[threading.Event, list] | list[asyncio.Future]


class GroupCommit:
    """One writer thread that commits the decisions of all concurrent requests together.

    Small commits (the usual case: one event-loop turn's rows) run as one statement on the
    thread's own connection in autocommit mode, which the database runs as its own transaction.
    """

    def __init__(
        self,
        engine: Engine,
        inserter: RowInserter,
        max_rows: int = 2_000,
        *,
        before_write: Callable[[], None] | None = None,
        health: CommitHealth | None = None,
    ):
        self.engine = engine
        self.inserter = inserter
        self.max_rows = max_rows
        self._before_write = before_write
        self.health = health or CommitHealth()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._conn: sa.Connection | None = None
        self.commits = 0  # transactions committed so far (tests, diagnostics)
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def submit(self, rows: list[Bound], timeout_s: float | None = None) -> None:
        """Block until `rows` are committed; raise StoreUnavailable if their commit failed,
        CommitTimeout if it was not confirmed within `timeout_s`."""
        done = threading.Event()
        slot: list[BaseException | None] = [None]
        self._queue.put((rows, (done, slot)))
        if not done.wait(timeout_s):
            raise CommitTimeout(timeout_s or 0.0)
        if slot[0] is not None:
            raise slot[0]

    def submit_into(self, rows: list[Bound], future: asyncio.Future) -> None:
        """Hand rows to the writer; `future` (of the running loop) is settled once they are
        committed or have failed. For callers that already batch one loop turn."""
        self._queue.put((rows, [future]))

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            error: BaseException | None = None
            self.health.started()
            try:
                if self._before_write is not None:
                    self._before_write()
                self._write([r for rows, _ in batch for r in rows])
                self.commits += 1
            except DBAPIError as exc:
                error = unavailable(exc, "logging decisions")
            except Exception as exc:  # never leave a caller waiting
                error = exc
            self.health.finished(error)
            _notify([w for _, w in batch], error)

    def _next_batch(self) -> list[tuple[list[Bound], Waiter]] | None:
        """What is waiting now (at least one item, up to `max_rows` rows); None at shutdown."""
        item = self._queue.get()
        if item is None:
            return None
        batch = [item]
        n = len(item[0])
        while n < self.max_rows:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # seen again by the next call, after this batch
                break
            batch.append(nxt)
            n += len(nxt[0])
        return batch

    def _write(self, rows: list[Bound]) -> None:
        if len(rows) > ONE_STATEMENT_ROWS:
            with self.engine.begin() as conn:
                self.inserter.insert(conn, rows)
            return
        try:
            self.inserter.execute(self._connection(), rows)
        except Exception:
            # a fresh connection next time, whatever state this one is in; no retry here: a
            # connection lost after the server committed would log the rows twice
            self._drop_connection()
            raise

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._drop_connection()


def _notify(waiters: list[Waiter], error: BaseException | None) -> None:
    """Wake every waiter; one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for waiter in waiters:
        if isinstance(waiter, list):  # futures of an event loop (see submit_into)
            if waiter:
                by_loop.setdefault(waiter[0].get_loop(), []).extend(waiter)
        else:  # a thread blocked in submit()
            done, slot = waiter
            slot[0] = error
            done.set()
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_all, futures, error)


def _settle_all(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(None)


def settle_from(future: asyncio.Future) -> Callable[[asyncio.Future], None]:
    """A done-callback that passes another future's outcome on to `future` (result None)."""

    def done(task: asyncio.Future) -> None:
        if future.done():
            return
        if task.cancelled():
            future.set_exception(StoreUnavailable("logging decisions was cancelled; retry."))
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            future.set_result(None)

    return done
