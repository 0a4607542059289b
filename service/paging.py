"""The opaque cursor of `GET /v1/deferred`: where the next page starts in the queue's order.

A cursor is the QueueKey of the last item a page held, as URL-safe base64 of JSON. Callers treat
it as opaque; a cursor that does not decode is refused naming the parameter, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from autoresolve.service.errors import ProblemError
from autoresolve.service.store import QueueKey

MAX_CURSOR_CHARS = 200


def encode_cursor(key: QueueKey) -> str:
    raw = json.dumps([key.priority, key.decision_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> QueueKey:
    """The QueueKey in `text`; ProblemError (422, field `cursor`) when it is not one of ours."""
    try:
        if len(text) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        priority, decision_id = json.loads(raw)
        if priority is not None and not (
            isinstance(priority, int | float) and math.isfinite(priority)
        ):
            raise ValueError("priority")
        if not isinstance(decision_id, int) or isinstance(decision_id, bool):
            raise ValueError("decision id")
        return QueueKey(None if priority is None else float(priority), decision_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            "invalid-request",
            "query parameter 'cursor' is not a cursor this service issued; pass the `next` "
            "value of the previous page unchanged, or leave it out to start from the top.",
            field="cursor",
        ) from None
