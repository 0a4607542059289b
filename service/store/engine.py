"""An engine with what each backend needs for several writers (workers, replicas, the CLI).

SQLite (a file, one machine): WAL so readers never wait for the writer, the durability level of
`synchronous`, and a lock wait of `busy_timeout_ms` before a write gives up (and the caller gets a
503). PostgreSQL (the store for several replicas): the psycopg 3 driver, pre-ping, and the same
lock wait as `lock_timeout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

SYNCHRONOUS = ("NORMAL", "FULL")


def make_engine(
    url: str | URL, *, busy_timeout_ms: int = 5_000, synchronous: str = "NORMAL"
) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u, busy_timeout_ms, synchronous)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(u, pool_pre_ping=True, pool_size=8, max_overflow=16)
    if u.get_backend_name() == "postgresql":

        @event.listens_for(engine, "connect")
        def _timeouts(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_conn.commit()

    return engine


def _sqlite_engine(u: URL, busy_timeout_ms: int, synchronous: str) -> Engine:
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"sqlite synchronous must be NORMAL or FULL, got {synchronous!r}")
    if u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        u,
        connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False},
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    return engine
