"""Read helpers: a driver error while reading becomes StoreUnavailable naming what was read."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from autoresolve.service.store.errors import unavailable


def read_rows(engine: Engine, query: Executable, doing: str) -> list[dict[str, Any]]:
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    except DBAPIError as exc:
        raise unavailable(exc, doing) from exc


def read_scalar(engine: Engine, query: Executable, doing: str) -> Any:
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar_one()
    except DBAPIError as exc:
        raise unavailable(exc, doing) from exc
