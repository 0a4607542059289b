"""HTTP load for the benchmarks: wrk when installed, else a Python asyncio generator.

`load(url, method, path, bodies_file, seconds, tmp)` keeps CONNECTIONS keep-alive connections
busy for `seconds` and returns requests/s, p50/p99 latency (ms), the request count and the
non-2xx count. POST bodies cycle through `bodies_file` (one body a line), each with a fresh
`record_id`, so every request is a new decision.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

CONNECTIONS = 32
WRK_TIMEOUT_S = 10  # mlflow serve answers in ~1 s under this load; wrk's default 2 s is too short
GENERATOR = f"wrk -t1 -c{CONNECTIONS}" if shutil.which("wrk") else "python asyncio (no wrk)"

_LUA = """
local bodies = {}
local f = io.open(os.getenv("BENCH_BODIES"), "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
local seq = 0
local path = os.getenv("BENCH_PATH")
local method = os.getenv("BENCH_METHOD")
local key = os.getenv("BENCH_API_KEY") or ""
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
request = function()
  if method == "GET" then return wrk.format("GET", path, {["X-API-Key"] = key}) end
  i = i % #bodies + 1
  seq = seq + 1
  local body = string.gsub(bodies[i], '"record_id":"[^"]*"', '"record_id":"b' .. seq .. '"', 1)
  return wrk.format("POST", path, headers, body)
end
"""


def load(
    url: str, method: str, path: str, bodies_file: Path | None, seconds: int, tmp: Path
) -> dict:
    if shutil.which("wrk"):
        return _wrk(url, method, path, bodies_file, seconds, tmp)
    bodies = bodies_file.read_text().splitlines() if bodies_file else None
    return _python(url, method, path, bodies, seconds)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m is not None, text
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _wrk(
    url: str, method: str, path: str, bodies_file: Path | None, seconds: int, tmp: Path
) -> dict:
    script = tmp / "bench.lua"
    script.write_text(_LUA)
    empty = tmp / "empty.txt"
    empty.write_text("")
    env = {**os.environ, "BENCH_BODIES": str(bodies_file or empty)}
    env |= {"BENCH_PATH": path, "BENCH_METHOD": method}
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT_S}s"]
    cmd += ["--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"wrk gave no figures:\n{out}")
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": float(rps.group(1)),
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


async def _conn(host: str, port: int, reqs: list[bytes], stop_at: float, lat: list, codes: list):
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(reqs[i % len(reqs)])
            i += 1
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head, re.I)
            await reader.readexactly(int(length.group(1)) if length else 0)
            lat.append(time.perf_counter() - t0)
            codes.append(int(head[9:12]))
    finally:
        writer.close()


def _python(url: str, method: str, path: str, bodies: list[str] | None, seconds: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    key = os.environ.get("BENCH_API_KEY", "")
    if method == "POST" and bodies:
        reqs = [
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {key}\r\n"
                f"Content-Length: {len(b.encode())}\r\n\r\n{b}"
            ).encode()
            for b in bodies
        ]
    else:
        reqs = [f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n\r\n".encode()]
    lat: list[float] = []
    codes: list[int] = []

    async def main():
        stop_at = time.perf_counter() + seconds
        conns = [_conn(host, int(port), reqs, stop_at, lat, codes) for _ in range(CONNECTIONS)]
        await asyncio.gather(*conns)

    t0 = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - t0
    arr = np.array(lat) * 1000
    return {
        "requests_per_s": len(lat) / wall,
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "requests": len(lat),
        "non_2xx": sum(1 for c in codes if c >= 300),
        "socket_errors": "",
    }
