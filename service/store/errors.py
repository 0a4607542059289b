"""What the store raises: the store cannot answer (retry later), or a label is refused."""

from __future__ import annotations

from typing import Any


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or is locked; nothing was written. Retry later."""


class LabelError(ValueError):
    """A label that cannot be accepted; names the record, the value and the allowed values."""

    def __init__(self, message: str, *, field: str = "resolution", index: int | None = None):
        self.field = field
        self.index = index
        super().__init__(message)


def unavailable(exc: Exception, doing: str) -> StoreUnavailable:
    """A driver error as StoreUnavailable: what failed, the driver's first line, what to do."""
    orig: Any = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    first = text.splitlines()[0][:200] if text else type(orig).__name__
    return StoreUnavailable(
        f"decision store unavailable while {doing} ({type(orig).__name__}: {first}); "
        "nothing was written — retry later."
    )
