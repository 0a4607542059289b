"""The fast lane answers the happy path itself and hands everything else to the full stack."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from autoresolve.service.fastlane import FastLaneApp


class Boom(Exception):
    pass


def make_app() -> tuple[FastLaneApp, list[str]]:
    stack: list[str] = []  # what reached the full stack, and with which body
    app = FastLaneApp(max_body_bytes=100)

    async def handler(scope, body: bytes) -> bytes:
        if body == b"bad":
            raise Boom("refused")
        return b'{"echo":' + body + b"}"

    async def route(request: Request) -> Response:
        body = await request.body()
        stack.append(body.decode())
        return Response(await handler(request.scope, body), media_type="application/json")

    @app.exception_handler(Boom)
    async def boom(request: Request, exc: Boom) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    app.router.routes.insert(0, Route("/x", route, methods=["POST"]))
    app.fast_route("POST", "/x", handler)
    return app, stack


async def call(app, method: str, path: str, chunks: list[bytes], length: bool = True):
    headers = [(b"content-type", b"application/json")]
    if length:
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def run(coro):
    return asyncio.run(coro)


def test_happy_path_is_answered_without_the_stack():
    app, stack = make_app()
    status, headers, body = run(call(app, "POST", "/x", [b"1", b"2"]))
    assert (status, body) == (200, b'{"echo":12}')
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == b"11"
    assert stack == []


def test_a_failing_handler_is_replayed_through_the_stack_with_its_body():
    app, stack = make_app()
    status, _, body = run(call(app, "POST", "/x", [b"ba", b"d"]))
    assert (status, body) == (422, b'{"error":"refused"}')
    assert stack == ["bad"]


@pytest.mark.parametrize(
    ("method", "path", "chunks", "length"),
    [
        ("POST", "/x", [b"7"], False),  # chunked: no declared length
        ("POST", "/x", [b"1" * 101], True),  # over the limit: the stack's own 413 path decides
        ("PUT", "/x", [b"7"], True),  # another method
        ("POST", "/y", [b"7"], True),  # another path
    ],
)
def test_everything_else_takes_the_full_stack(method, path, chunks, length):
    app, stack = make_app()
    status, _, _ = run(call(app, method, path, chunks, length))
    if (method, path) == ("POST", "/x"):
        assert status == 200 and stack == [b"".join(chunks).decode()]
    else:
        assert status in (404, 405) and stack == []
