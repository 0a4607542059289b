"""API keys for write and admin endpoints, sent in the X-API-Key header.

The key is a FastAPI security dependency (`api_key_dependency`): OpenAPI declares the scheme, so
/docs shows an Authorize button, and each protected route lists it. Every configured key is
compared in constant time (no early exit on the first match either), and a key never appears in
a log line or an error message.
"""

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key reaches `check_api_key`, which answers our 401 problem JSON
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="APIKey",
    description="one of the keys in AUTORESOLVE_API_KEYS",
    auto_error=False,
)


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


def api_key_dependency(keys: Sequence[str]) -> Callable[..., Awaitable[None]]:
    """The dependency that admits a request with one of `keys` (401 missing, 403 wrong).

    async: a plain `def` dependency would cost a thread-pool hop per request.
    """

    async def require_api_key(
        given: Annotated[str | None, Security(api_key_header)] = None,
    ) -> None:
        check_api_key(given, keys)

    return require_api_key
