"""The store's schema, owned by the alembic migrations in `service/migrations`.

`migrate` brings any store up to date and keeps its data. Several workers or replicas may start
at once: alembic is not thread-safe (a process lock), SQLite files get an exclusive file lock
beside them, PostgreSQL an advisory lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from autoresolve.service.store.errors import unavailable

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

_MIGRATE_LOCK = threading.Lock()
_PG_LOCK_ID = 77215001


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest), keeping existing data."""
    from alembic import command

    if revision == "head" and is_current(engine):
        return
    try:
        with _MIGRATE_LOCK, _file_lock(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})"))
            command.upgrade(_alembic_config(conn), revision)
    except SQLAlchemyError as exc:
        if revision == "head" and is_current(engine):
            return  # another process got there first
        raise unavailable(exc, "migrating the schema") from exc


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate-lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        return ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()


def is_current(engine: Engine) -> bool:
    try:
        return current_revision(engine) == head_revision(engine)
    except SQLAlchemyError:
        return False
