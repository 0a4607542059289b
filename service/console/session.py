"""The console's session: a signed cookie that proves an API key was given, never the key itself.

The cookie holds `expiry.fingerprint.mac`: the fingerprint picks which configured key logged in
(a hash, so the key cannot be read back from it), the MAC is an HMAC keyed by that API key. Any
worker can check it without shared state, and removing a key from AUTORESOLVE_API_KEYS ends its
sessions. Without configured keys (development only) a random per-process secret signs instead.
Form posts carry a CSRF token derived from the session (an HMAC of it), checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

COOKIE = "autoresolve_console"
SESSION_SECONDS = 8 * 3600
_DEV_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"autoresolve-console-key:" + key).hexdigest()[:16]


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _secrets(keys: Sequence[str]) -> list[bytes]:
    return [k.encode("utf-8") for k in keys] or [_DEV_SECRET]


def login(given: str, keys: Sequence[str], now: float | None = None) -> str | None:
    """The cookie value for a valid key (any non-empty text when no keys are configured)."""
    from autoresolve.service.auth import key_matches

    if not given or (keys and not key_matches(given, keys)):
        return None
    secret = given.encode("utf-8") if keys else _DEV_SECRET
    expiry = int((now if now is not None else time.time()) + SESSION_SECONDS)
    body = f"{expiry}.{_fingerprint(secret)}"
    return f"{body}.{_mac(secret, body)}"


def check(token: str | None, keys: Sequence[str], now: float | None = None) -> Session | None:
    """The session of a valid, unexpired cookie signed by a key still configured; else None."""
    if not token or token.count(".") != 2:
        return None
    expiry, fp, mac = token.split(".")
    if not expiry.isdigit() or int(expiry) < (now if now is not None else time.time()):
        return None
    for secret in _secrets(keys):
        if hmac.compare_digest(fp, _fingerprint(secret)):
            if hmac.compare_digest(mac, _mac(secret, f"{expiry}.{fp}")):
                return Session(token=token, csrf=_mac(secret, "csrf:" + token)[:32])
            return None
    return None


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
