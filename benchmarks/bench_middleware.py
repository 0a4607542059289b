"""What the body read deadline adds to each request with a body (issue 14's slow clients).

The body-limit middleware with its read deadline on and off (`body_timeout_s=0`), in one run,
around an ASGI app that reads a whole body and answers a constant: the difference is what every
POST pays for the deadline (a set entry, looked at by one sweeper task per event loop; no timer
per request). `python -m benchmarks middleware [--quick]`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from autoresolve.service.errors import BodyLimitMiddleware
from benchmarks.common import write_result

_SCOPE = {
    "type": "http",
    "path": "/v1/resolve",
    "method": "POST",
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
}


async def _app(scope, receive, send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _whole() -> dict:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def _sink(msg) -> None:
    return None


async def _per_request_us(mw: BodyLimitMiddleware, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await mw(_SCOPE, _whole, _sink)
    return (time.perf_counter() - t0) / n * 1e6


async def _measure(n: int, rounds: int) -> dict[str, float]:
    off = BodyLimitMiddleware(_app, max_bytes=1_000, body_timeout_s=0)
    on = BodyLimitMiddleware(_app, max_bytes=1_000, body_timeout_s=10)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):  # interleaved, so load on the machine colours both alike
        times["off"].append(await _per_request_us(off, n))
        times["on"].append(await _per_request_us(on, n))
    a, b = statistics.median(times["off"]), statistics.median(times["on"])
    return {"deadline_off_us": a, "deadline_on_us": b, "added_us": b - a, "ratio": b / a}


def main(argv: list[str]) -> int:
    n, rounds = (2_000, 3) if "--quick" in argv else (20_000, 7)
    out = asyncio.run(_measure(n, rounds))
    for k, v in out.items():
        print(f"{k:>16}: {v:.3f}")
    write_result("middleware", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
