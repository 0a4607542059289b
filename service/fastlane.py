"""The fast lane: the scoring endpoint served without the generic middleware stack.

A workflow tool calls `POST /v1/resolve` once per record, so the per-request cost of the stack
around it (error middleware, body limit, exception middleware, exit stack, router: about 50 µs
of the loop's time per request under load, as much as the decision itself) is paid on every
record. `FastLaneApp` answers such a request itself when everything goes well: it reads the body
(declared length within the limit), calls the handler, and sends the bytes it returns.

Anything else takes the ordinary path, so there is one behaviour for every error: a chunked or
oversized body goes to the full app untouched; a handler that raises has its request replayed
(same body) into the full app, whose route runs the same handler again and whose exception
handlers produce the usual problem JSON, status and metrics. A handler must therefore raise
before its one side effect (logging the decision), never after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

Handler = Callable[[Scope, bytes], Awaitable[bytes]]

_JSON_HEADERS = b"application/json"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay


class FastLaneApp(FastAPI):
    """FastAPI, plus a table of (method, path) → handler served in front of the stack."""

    def __init__(self, *args: Any, max_body_bytes: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fast_routes: dict[tuple[str, str], Handler] = {}
        self.max_body_bytes = max_body_bytes

    def fast_route(self, method: str, path: str, handler: Handler) -> None:
        self.fast_routes[(method, path)] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.fast_routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await self._fast(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _fast(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
                break
        if length is None or not length.isdigit() or int(length) > self.max_body_bytes:
            await super().__call__(scope, receive, send)  # chunked or too large: the full path
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            out = await handler(scope, body)
        except Exception:
            await super().__call__(scope, _replay(body, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(out)).encode()),
                    (b"content-type", _JSON_HEADERS),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})
