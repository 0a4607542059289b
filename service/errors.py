"""Every error as an RFC 9457 problem detail (service/problems.py); never a traceback.

One converter (`ProblemConverter`) turns each exception the app can meet into its problem
answer: request validation, HTTP errors from routing and body parsing (404, 405 with `Allow`,
413, JSON nested too deep), API-key errors, the domain's record and label errors, a store or a
policy that is not there, and anything unexpected (500 with a reference to the log).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autoresolve.model.records import RecordError
from autoresolve.rules.errors import suggest
from autoresolve.service.auth import AuthError
from autoresolve.service.problems import ProblemResponse, kind_for_status, problem
from autoresolve.service.store import LabelError, StoreUnavailable

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20
RETRY_AFTER_S = "5"


class NotReady(Exception):
    """No policy is loaded yet (or the store is not reachable)."""


class ProblemError(Exception):
    """A route's own refusal: a problem `kind` (service/problems.py) with its detail and field."""

    def __init__(self, kind: str, detail: str, field: str | None = None):
        self.kind = kind
        self.field = field
        super().__init__(detail)


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


class ProblemConverter:
    """Exception → problem answer, for every exception handler of the app.

    `known_fields`: per URL path, body path prefix ('' top level, 'records.N' …) → the names a
    validation error's "Did you mean …?" chooses from. `unions`: per URL path, the two request
    models of a body that may be either (a label or {labels: [...]}). `on_error` counts each
    answer by kind (the `autoresolve_errors_total` metric).
    """

    def __init__(
        self,
        known_fields: dict[str, dict[str, list[str]]],
        unions: dict[str, tuple[str, str]],
        on_error: Callable[[str], None] | None = None,
    ):
        self.known_fields = known_fields
        self.unions = unions
        self.on_error = on_error

    async def __call__(self, request: Request, exc: Exception) -> ProblemResponse:
        answer = self.convert(request, exc)
        if self.on_error is not None:
            self.on_error(answer.kind)
        return answer

    def convert(self, request: Request, exc: Exception) -> ProblemResponse:
        path = request.url.path
        if isinstance(exc, RequestValidationError):
            return self.invalid_request(request, exc)
        if isinstance(exc, StarletteHTTPException):
            return _http_problem(request, exc)
        if isinstance(exc, AuthError):
            kind = "unauthorized" if exc.status == 401 else "forbidden"
            return problem(kind, str(exc), field="X-API-Key", instance=path)
        if isinstance(exc, LabelError):
            field = exc.field if exc.index is None else f"labels.{exc.index}.{exc.field}"
            return problem("invalid-label", str(exc), field=field, instance=path)
        if isinstance(exc, RecordError):
            return problem("invalid-record", str(exc), field=exc.field, instance=path)
        if isinstance(exc, ProblemError):
            return problem(exc.kind, str(exc), field=exc.field, instance=path)
        if isinstance(exc, StoreUnavailable | NotReady):
            kind = "store-unavailable" if isinstance(exc, StoreUnavailable) else "not-ready"
            retry = {"Retry-After": RETRY_AFTER_S}
            return problem(kind, str(exc), instance=path, headers=retry)
        ref = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", ref, request.method, path, exc_info=exc)
        detail = f"internal error (reference {ref}); the server log has the details."
        return problem("internal", detail, instance=path)

    def invalid_request(self, request: Request, exc: RequestValidationError) -> ProblemResponse:
        path = request.url.path
        raw = list(exc.errors())
        if path in self.unions:
            raw = _pick_union_branch(raw, exc.body, self.unions[path])
        known = self.known_fields.get(path, self.known_fields.get("*", {}))
        errors = []
        for err in raw[:MAX_LISTED_ERRORS]:
            d = _describe(err, known)
            errors.append({"field": d["field"], "detail": d["message"], "code": err.get("type")})
        first = errors[0] if errors else {"field": None, "detail": "invalid request."}
        more = f" ({len(raw) - 1} more error(s) in 'errors')" if len(raw) > 1 else ""
        return problem(
            "invalid-request",
            first["detail"] + more,
            field=first["field"],
            errors=errors,
            instance=path,
        )


def _http_problem(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    path = request.url.path
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        detail = (
            "request body is not valid JSON: it nests deeper than the parser allows (about "
            "1,000 levels); records are flat objects of field values."
        )
        err = {"field": None, "detail": detail, "code": "json_too_deep"}
        return problem("invalid-request", detail, errors=[err], instance=path)
    if exc.status_code == 404:
        detail = f"no endpoint {request.method} {path}; see /docs for the API."
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{path} does not take {request.method}; it takes {', '.join(allowed)}."
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    kind = kind_for_status(exc.status_code)
    return problem(kind, detail, status=exc.status_code, instance=path, headers=headers or None)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette's own 405 names one route's only).

    Asked of the routes by matching, so routers included into routers are asked too."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def install_handlers(
    app: FastAPI,
    known_fields: dict[str, dict[str, list[str]]],
    unions: dict[str, tuple[str, str]] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> ProblemConverter:
    """Register the one converter for every exception the app answers as a problem."""
    convert = ProblemConverter(known_fields, unions or {}, on_error)
    for exc_class in (
        RequestValidationError,
        StarletteHTTPException,
        AuthError,
        LabelError,
        RecordError,
        ProblemError,
        StoreUnavailable,
        NotReady,
        Exception,
    ):
        app.add_exception_handler(exc_class, convert)  # type: ignore[arg-type]
    return convert


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
                    await problem("payload-too-large", message, instance=scope["path"])(
                        scope, receive, send
                    )
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
                    "request-timeout",
                    f"the request body was not received within {self.body_timeout_s:g}s "
                    "(AUTORESOLVE_BODY_TIMEOUT_S); send it at once.",
                    instance=scope["path"],
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
