"""API keys for write and admin endpoints, sent in the X-API-Key header.

Every configured key is compared in constant time (no early exit on the first match either), and a
key never appears in a log line or an error message.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

API_KEY_HEADER = "X-API-Key"


class AuthError(Exception):
    """Missing or wrong API key; the message never contains the key."""

    def __init__(self, message: str, status: int = 401):
        self.status = status
        super().__init__(message)


def key_matches(given: str, keys: Sequence[str]) -> bool:
    presented = given.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key.encode("utf-8"))
    return found


def check_api_key(given: str | None, keys: Sequence[str]) -> None:
    """Pass when no keys are configured (development only: settings refuse that elsewhere)."""
    if not keys:
        return
    if not given:
        raise AuthError(f"this endpoint needs an API key in the {API_KEY_HEADER} header.")
    if not key_matches(given, keys):
        raise AuthError(f"the API key in {API_KEY_HEADER} is not valid.", status=403)
