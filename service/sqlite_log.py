"""The decision log's SQLite INSERTs, shared by the writer thread and the writer process.

Standard library only (and the column list), so the writer process starts light: it never imports
SQLAlchemy, pandas or the model.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from autoresolve.model.decision import DECISION_COLUMNS

LOG_COLUMNS = ("domain", *DECISION_COLUMNS, "record", "priority")
"""A log row's values, in insert order: plain values, `candidates` and `record` as JSON text,
`decided_at` as the policy's ISO text (UTC, 'Z')."""


def _values(n: int) -> str:
    # SQLAlchemy's SQLite DATETIME text (microseconds) from the decision's ISO text (milliseconds)
    one = "(?,?,?,?,?,?,?,?,?,?,?,strftime('%Y-%m-%d %H:%M:%f',?)||'000',?,?)"
    return f"INSERT INTO decisions ({', '.join(LOG_COLUMNS)}) VALUES " + ",".join([one] * n)  # noqa: S608


_POWERS = {1 << k: _values(1 << k) for k in range(10)}  # 1 … 512 rows
_ONE_STATEMENT_ROWS = 64
_exact: dict[int, str] = {}


def insert_all(execute: Any, rows: Sequence[Sequence[Any]]) -> None:
    """`rows` as multi-row INSERTs of 512, 256, … 1 rows through a driver's `execute`: at most ten
    statements (each prepared once and cached by the driver) per commit, not one per row."""
    i, n = 0, len(rows)
    while i < n:
        size = 512
        while size > n - i:
            size >>= 1
        execute(_POWERS[size], [v for row in rows[i : i + size] for v in row])
        i += size


def commit_rows(db: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Append `rows` in one transaction on an autocommit connection (`isolation_level=None`).

    Up to 64 rows are one INSERT, which SQLite runs as its own transaction: one call into the
    driver per commit. More rows: an explicit transaction around `insert_all`.
    """
    n = len(rows)
    if n <= _ONE_STATEMENT_ROWS:
        sql = _exact.get(n)
        if sql is None:
            sql = _exact[n] = _values(n)
        db.execute(sql, [v for row in rows for v in row])
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        insert_all(db.execute, rows)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                db.execute("ROLLBACK")
        raise


def connect(database: str, *, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """An autocommit connection with the store's pragmas."""
    db = sqlite3.connect(
        database, timeout=busy_timeout_ms / 1000.0, isolation_level=None, check_same_thread=False
    )
    set_pragmas(db, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    return db


def set_pragmas(db: Any, *, synchronous: str, busy_timeout_ms: int) -> None:
    """WAL, the durability level and the lock wait: every connection to a store file runs these."""
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"sqlite synchronous must be NORMAL or FULL, got {synchronous!r}")
    cur = db.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.close()
