"""Every error as JSON that names the problem and the field; never a traceback to the caller."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autoresolve.model.records import RecordError
from autoresolve.rules.errors import suggest
from autoresolve.service.auth import AuthError
from autoresolve.service.store import LabelError, StoreUnavailable

log = logging.getLogger(__name__)


class NotReady(Exception):
    """No policy is loaded yet (or the store is not reachable)."""


def problem(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": error, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status)


def _field_path(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


def _describe(err: dict[str, Any], known: dict[str, list[str]]) -> dict[str, Any]:
    kind = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    path = _field_path(loc)
    name = str(loc[-1]) if loc else ""
    if kind == "json_invalid":
        reason = (err.get("ctx") or {}).get("error") or err.get("msg", "invalid JSON")
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        return {"field": None, "message": f"request body is not valid JSON: {reason}{at}."}
    if kind == "extra_forbidden":
        allowed = known.get(_field_path(loc[:-1]), known.get("", []))
        hint = suggest(name, allowed) if allowed else ""
        return {"field": path, "message": f"unknown field '{path}'.{hint}"}
    if kind == "missing":
        return {"field": path, "message": f"field '{path}' is required."}
    msg = err.get("msg", "invalid value")
    where = f"field '{path}'" if path else "request body"
    return {"field": path or None, "message": f"{where}: {msg}."}


def _pick_union_branch(errors: list[dict], body: Any, branches: tuple[str, str]) -> list[dict]:
    """A body that may be one label or {labels: [...]}: report only the branch the caller meant."""
    single, many = branches
    tags = {single, many}
    if not any(len(e.get("loc", ())) > 1 and e["loc"][1] in tags for e in errors):
        return errors
    meant = many if isinstance(body, dict) and "labels" in body else single
    out = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if len(loc) > 1 and loc[1] in tags:
            if loc[1] != meant:
                continue
            e = {**e, "loc": (loc[0], *loc[2:])}
        out.append(e)
    return out


def validation_handler(
    known_fields: dict[str, dict[str, list[str]]], unions: dict[str, tuple[str, str]]
):
    """`known_fields`: per URL path, body path prefix ('' top level, 'records.N' …) → names."""

    async def handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        path = request.url.path
        raw = list(exc.errors())
        if path in unions:
            raw = _pick_union_branch(raw, exc.body, unions[path])
        known = known_fields.get(path, known_fields.get("*", {}))
        errors = []
        for err in raw[:20]:
            d = _describe(err, known)
            errors.append({"field": d["field"], "message": d["message"], "type": err.get("type")})
        first = errors[0] if errors else {"field": None, "message": "invalid request."}
        more = f" ({len(raw) - 1} more error(s) in 'errors')" if len(raw) > 1 else ""
        return problem(
            422, "invalid_request", first["message"] + more, field=first["field"], errors=errors
        )

    return handler


def install_handlers(
    app: FastAPI,
    known_fields: dict[str, dict[str, list[str]]],
    unions: dict[str, tuple[str, str]] | None = None,
    on_error=None,
) -> None:
    def note(kind: str) -> None:
        if on_error is not None:
            on_error(kind)

    app.add_exception_handler(
        RequestValidationError, validation_handler(known_fields, unions or {})
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {
            404: "not_found",
            405: "method_not_allowed",
            408: "request_timeout",
            413: "payload_too_large",
        }
        note(names.get(exc.status_code, f"http_{exc.status_code}"))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no endpoint {request.method} {request.url.path}; see /docs for the API."
        return problem(exc.status_code, names.get(exc.status_code, "http_error"), detail)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        note("auth")
        return problem(exc.status, "unauthorized", str(exc), field="X-API-Key")

    @app.exception_handler(LabelError)
    async def label_error(request: Request, exc: LabelError) -> JSONResponse:
        note("label")
        field = exc.field if exc.index is None else f"labels.{exc.index}.{exc.field}"
        return problem(422, "invalid_label", str(exc), field=field)

    @app.exception_handler(RecordError)
    async def record_error(request: Request, exc: RecordError) -> JSONResponse:
        note("record")
        return problem(422, "invalid_record", str(exc), field=exc.field)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        note("store_unavailable")
        resp = problem(503, "store_unavailable", str(exc))
        resp.headers["Retry-After"] = "5"
        return resp

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> JSONResponse:
        note("not_ready")
        resp = problem(503, "not_ready", str(exc))
        resp.headers["Retry-After"] = "5"
        return resp

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("internal error %s on %s %s", ref, request.method, request.url.path)
        note("internal")
        return problem(
            500,
            "internal",
            f"internal error (reference {ref}); the server log has the details.",
        )


class BodyLimitMiddleware:
    """Refuse bodies over their endpoint's limit with 413 before they are parsed (chunked
    bodies too), and bodies not received within `body_timeout_s` with 408.

    `limits` maps a path to its own limit (a record's endpoints take one record, far less than
    a batch); other paths get `max_bytes`. A request with a body gets a read deadline
    (`_BodyDeadline`), disarmed once the body is in: a client sending a few bytes at a time
    cannot hold a worker's slot for longer. Pure ASGI, like every middleware of the app:
    Starlette's BaseHTTPMiddleware would run each request's handler in a task group of its own
    and copy the response through a stream.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        limits: dict[str, int] | None = None,
        body_timeout_s: float = 0.0,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.limits = limits or {}
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.max_bytes)
        setting = (
            "AUTORESOLVE_MAX_RECORD_BYTES"
            if scope["path"] in self.limits
            else ("AUTORESOLVE_MAX_BODY_BYTES")
        )
        message = (
            f"request body is larger than the limit of {limit:,} bytes for {scope['path']} "
            f"({setting}); "
            + ("send one record." if scope["path"] in self.limits else "split the batch.")
        )
        has_body = False
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > limit:
                    await problem(413, "payload_too_large", message)(scope, receive, send)
                    return
                has_body = has_body or length > 0
            elif key == b"transfer-encoding":
                has_body = True
        seen = 0
        reading = _BodyDeadline(self.body_timeout_s) if has_body else None

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    if reading is not None:
                        reading.done()
                    raise StarletteHTTPException(413, message)
                if not msg.get("more_body") and reading is not None:
                    reading.done()
            elif reading is not None:
                reading.done()
            return msg

        if reading is None:
            await self.app(scope, limited, send)
            return
        started = False

        async def sending(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                reading.done()
            await send(msg)

        try:
            await self.app(scope, limited, sending)
        except asyncio.CancelledError:
            if not reading.expired:
                raise
            reading.uncancel()
            if not started:
                timeout = problem(
                    408,
                    "request_timeout",
                    f"the request body was not received within {self.body_timeout_s:g}s "
                    "(AUTORESOLVE_BODY_TIMEOUT_S); send it at once.",
                )
                timeout.headers["Connection"] = "close"
                await timeout(scope, receive, send)
        finally:
            reading.done()


class _BodyDeadline:
    """One request's body deadline: its task is cancelled if the body is not in by then.

    No timer per request (a TimerHandle per request cost more than the rest of this middleware):
    open deadlines sit in a set that one sweeper task per event loop looks at a few times per
    timeout, so a deadline fires between `timeout_s` and 1.25 × `timeout_s` (at most 1 s) late.
    """

    _open: ClassVar[set[_BodyDeadline]] = set()
    _sweepers: ClassVar[dict[asyncio.AbstractEventLoop, asyncio.Task]] = {}

    __slots__ = ("_task", "at", "expired")

    def __init__(self, timeout_s: float):
        self.expired = False
        self._task = asyncio.current_task()
        self.at = time.monotonic() + timeout_s if timeout_s > 0 else None
        if self.at is not None:
            self._open.add(self)
            self._sweep_on(asyncio.get_running_loop(), timeout_s)

    @classmethod
    def _sweep_on(cls, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        sweeper = cls._sweepers.get(loop)
        if sweeper is None or sweeper.done():
            for old in [lp for lp in cls._sweepers if lp.is_closed()]:
                del cls._sweepers[old]
            every = min(1.0, timeout_s / 4)
            cls._sweepers[loop] = loop.create_task(cls._sweep(loop, every))

    @classmethod
    async def _sweep(cls, loop: asyncio.AbstractEventLoop, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for deadline in [d for d in cls._open if d.at is not None and d.at <= now]:
                if deadline._task is not None and deadline._task.get_loop() is loop:
                    deadline._expire()

    def _expire(self) -> None:
        self.done()
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def done(self) -> None:
        if self.at is not None:
            self.at = None
            self._open.discard(self)

    def uncancel(self) -> None:
        if self._task is not None:
            self._task.uncancel()
