"""HTTP: `POST /v1/resolve` (validate, rules + model, log to the store, answer) against two bare
endpoints of the same app — same server, same settings, same run, 32 connections:
`GET /v1/ping` (issue 5's bare endpoint: a constant through FastAPI's routing) and `POST /v1/ping`
(the strict baseline: served like resolve, by the fast lane, sent the same CRM bodies, reads them
and answers a constant).

The server is `autoresolve serve` (uvicorn, OMP_NUM_THREADS=1) with a policy trained on the CRM
demo data and registered in a temporary MLflow store; the decision store is SQLite in WAL mode with
`synchronous=NORMAL` (every decision committed before its answer: durable across a crash of the
process, not across a power cut), written by each worker's decision-log writer process. Two more
runs repeat the resolve load with 2 workers: with `synchronous=FULL` (one fsync per commit:
durable across a power cut too), to show what that costs, and with the decision store on the
local PostgreSQL (the store for several replicas; skipped, and said so, when it is not
reachable).

Load generator: wrk (`apt-get install wrk`) when it is on PATH — it costs little CPU on this
2-core machine — else a Python asyncio generator (keep-alive HTTP/1.1, much heavier, so its figures
understate the server). Targets: resolve ≥ 50 % of ping's requests/s, p99 ≤ 20 ms.

Each configuration runs 3 interleaved rounds of 5 s (ping, ping_post, resolve, ping, …) and reports
medians, plus the server CPU time per request, which a busy neighbour distorts less (not at all
only on an idle machine: cache and memory-bandwidth contention still inflate it).
`--quick`: one round, 1 worker only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import write_result

ROOT = Path(__file__).resolve().parents[1]
CRM = ROOT / "data" / "crm"
KEY = "bench-key-0123456789abcdef"
CONNECTIONS = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_policy(home: Path) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from autoresolve.model import registry
    from autoresolve.model.datasets import load_domain_frame
    from autoresolve.model.domain import load_domain
    from autoresolve.model.train import train_policy

    domain = load_domain(CRM)
    df = load_domain_frame(domain)
    t0 = time.perf_counter()
    policy, report = train_policy(domain, df, seed=0)
    registry.configure(f"sqlite:///{home / 'mlflow.db'}", home / "mlartifacts")
    version = registry.log_policy(policy, report, run_name="bench-http")
    return {"version": version, "train_records": len(df), "seconds": time.perf_counter() - t0}


def sample_bodies(n: int = 500) -> list[str]:
    """Real CRM records (label dropped), JSON as a workflow tool would send them."""
    from autoresolve.model.datasets import load_domain_frame
    from autoresolve.model.domain import load_domain

    domain = load_domain(CRM)
    df = load_domain_frame(domain).drop(columns=[domain.label])
    df = df.sample(n=min(n, len(df)), random_state=0)
    flags = set(domain.fields_of("boolean"))
    bodies = []
    for rec in json.loads(df.to_json(orient="records", date_format="iso")):
        clean = {k: (bool(v) if k in flags else v) for k, v in rec.items() if v is not None}
        bodies.append(json.dumps(clean))
    return bodies


class Server:
    def __init__(
        self, home: Path, workers: int, synchronous: str = "NORMAL", database_url: str | None = None
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AUTORESOLVE_ENV": "test",
            "AUTORESOLVE_HOME": str(home),
            "AUTORESOLVE_API_KEYS": KEY,
            "AUTORESOLVE_SQLITE_SYNCHRONOUS": synchronous,
            "AUTORESOLVE_RELOAD_INTERVAL_S": "30",
            "OMP_NUM_THREADS": "1",
        }
        for k in ("MLFLOW_TRACKING_URI", "AUTORESOLVE_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(k, None)
        if database_url:
            env["AUTORESOLVE_DATABASE_URL"] = database_url
        self.log = home / f"serve-{self.port}.log"
        cmd = [
            sys.executable,
            "-c",
            "from service.cli import app; app()",
            "serve",
            "--domain",
            str(CRM),
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-2000:])
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("server not ready: " + self.log.read_text()[-2000:])

    def worker_rss_mb(self, writers: bool = False) -> list[float]:
        """Resident memory of each uvicorn worker (the processes of our group but the parent and
        the decision-log writers), or with `writers` of each decision-log writer process."""
        out, main = [], []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                pgid = int(fields[2])
                if pgid != self.proc.pid:
                    continue
                cmdline = (proc / "cmdline").read_bytes()
                if b"multiprocessing" in cmdline and b"resource_tracker" in cmdline:
                    continue
                if (b"autoresolve.service.log_process" in cmdline) != writers:
                    continue
                status = (proc / "status").read_text()
                kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            except (OSError, AttributeError, ValueError, IndexError):
                continue
            (main if int(proc.name) == self.proc.pid else out).append(round(kb / 1024, 1))
        if writers:
            return sorted(out + main)
        return sorted(out) or main  # one worker runs inside the main process

    def group_pids(self) -> list[int]:
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.proc.pid:
                    pids.append(int(proc.name))
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by every process of the server."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.group_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ---------------------------------------------------------------------------------- load: wrk

_LUA = """
local bodies = {}
local f = io.open(os.getenv("BENCH_BODIES"), "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
local seq = 0
local path = os.getenv("BENCH_PATH") or "/v1/resolve"
request = function()
  if #bodies == 0 then return wrk.format("GET", "/v1/ping") end
  i = i % #bodies + 1
  seq = seq + 1
  local body = string.gsub(bodies[i], '"record_id":"[^"]*"', '"record_id":"b' .. seq .. '"', 1)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, bodies_file: Path | None, seconds: int, tmp: Path, path: str) -> dict:
    script = tmp / "bench.lua"
    script.write_text(_LUA)
    env = {
        **os.environ,
        "BENCH_BODIES": str(bodies_file or (tmp / "empty.txt")),
        "BENCH_PATH": path,
    }
    if bodies_file is None:
        (tmp / "empty.txt").write_text("")
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "generator": "wrk -t1 -c32",
    }


# ------------------------------------------------------------------------- load: Python asyncio


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
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            codes.append(int(head[9:12]))
    finally:
        writer.close()


def run_python(url: str, bodies: list[str] | None, seconds: int, path: str) -> dict:
    host, port = url.removeprefix("http://").split(":")
    if bodies:
        reqs = [
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(b.encode())}\r\n\r\n{b}"
            ).encode()
            for b in bodies
        ]
    else:
        reqs = [f"GET /v1/ping HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()]
    lat: list[float] = []
    codes: list[int] = []

    async def main():
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *[_conn(host, int(port), reqs, stop_at, lat, codes) for _ in range(CONNECTIONS)]
        )

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
        "generator": "python asyncio, 32 connections",
    }


def load(
    url: str,
    bodies: list[str] | None,
    bodies_file: Path | None,
    seconds: int,
    tmp: Path,
    path: str = "/v1/resolve",
):
    if shutil.which("wrk"):
        return run_wrk(url, bodies_file if bodies else None, seconds, tmp, path)
    return run_python(url, bodies, seconds, path)


def _median_run(runs: list[dict]) -> dict:
    """Per-figure medians over the rounds (each round: one load run)."""
    out = dict(runs[0])
    for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_request"):
        out[key] = round(float(np.median([r[key] for r in runs])), 3)
    out["requests"] = sum(r["requests"] for r in runs)
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    return out


PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def pg_schema() -> Iterator[str | None]:
    """A fresh PostgreSQL schema for the PostgreSQL run, dropped after; None when unreachable."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_BASE, connect_args={"connect_timeout": 2})
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server here: the run is skipped, and says so
        print(f"PostgreSQL not reachable at {PG_BASE} ({type(exc).__name__}): run skipped")
        yield None
        return
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def count_logged(home: Path, database_url: str | None = None) -> int:
    from autoresolve.service.store import DecisionStore

    store = DecisionStore.from_url(database_url or f"sqlite:///{home / 'autoresolve.db'}")
    try:
        return store.count_decisions("crm")
    finally:
        store.close()


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    seconds = 5
    if not shutil.which("wrk"):
        print(
            "wrk not found (apt-get install wrk): using the Python load generator, which shares "
            "the 2 cores with the server and understates its throughput.",
            file=sys.stderr,
        )
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    reg = register_policy(tmp)
    bodies = sample_bodies()
    bodies_file = tmp / "bodies.jsonl"
    bodies_file.write_text("\n".join(bodies) + "\n")
    runs = []
    plans = [(1, "NORMAL")] if quick else [(1, "NORMAL"), (2, "NORMAL"), (2, "FULL"), (2, "PG")]
    rounds = 1 if quick else 3
    load_before = os.getloadavg()
    for workers, sync in plans:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(pg_schema()) if sync == "PG" else None
            if sync == "PG" and url is None:
                continue
            runs.append(_run_plan(tmp, workers, sync, url, bodies, bodies_file, seconds, rounds))
    _report(runs, reg, seconds, load_before)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _run_plan(
    tmp: Path,
    workers: int,
    sync: str,
    url: str | None,
    bodies: list[str],
    bodies_file: Path,
    seconds: int,
    rounds: int,
) -> dict:
    """One server configuration: `sync` is SQLite's synchronous mode, or PG for PostgreSQL."""
    server = Server(tmp, workers, "NORMAL" if sync == "PG" else sync, url)
    try:
        server.wait_ready()
        import httpx

        for i in range(20):  # warm every worker's policy path
            httpx.post(
                server.url + "/v1/resolve",
                content=bodies[i],
                headers={"content-type": "application/json"},
            )
        before = count_logged(tmp, url)
        entry: dict = {"workers": workers, "sqlite_synchronous": sync, "rounds": rounds}
        samples: dict[str, list[dict]] = {"ping": [], "ping_post": [], "resolve": []}
        # the baselines run with the first configuration of each worker count only
        kinds = ("ping", "ping_post", "resolve") if sync == "NORMAL" else ("resolve",)
        for _ in range(rounds):  # interleaved, so a noisy neighbour hits all alike
            for kind in kinds:
                cpu0 = server.cpu_seconds()
                if kind == "ping":
                    m = load(server.url, None, None, seconds, tmp)
                elif kind == "ping_post":
                    m = load(server.url, bodies, bodies_file, seconds, tmp, "/v1/ping")
                else:
                    m = load(server.url, bodies, bodies_file, seconds, tmp)
                m["server_cpu_us_per_request"] = round(
                    (server.cpu_seconds() - cpu0) / max(1, m["requests"]) * 1e6, 1
                )
                samples[kind].append(m)
        time.sleep(0.5)
        for kind, ms in samples.items():
            if ms:
                entry[kind] = _median_run(ms)
        completed = sum(m["requests"] - m["non_2xx"] for m in samples["resolve"])
        entry["resolve"]["logged"] = count_logged(tmp, url) - before
        entry["resolve"]["answered_2xx"] = completed
        entry["rss_mb_per_worker"] = server.worker_rss_mb()
        entry["rss_mb_per_log_writer"] = server.worker_rss_mb(writers=True)
        for base in ("ping", "ping_post"):
            if base not in entry:
                continue
            ratios = [
                r["requests_per_s"] / q["requests_per_s"]
                for r, q in zip(samples["resolve"], samples[base], strict=True)
            ]
            entry[f"resolve_vs_{base}"] = round(float(np.median(ratios)), 3)
            entry[f"resolve_vs_{base}_rounds"] = [round(x, 3) for x in ratios]
            entry[f"cpu_ratio_{base}_over_resolve"] = round(
                entry[base]["server_cpu_us_per_request"]
                / entry["resolve"]["server_cpu_us_per_request"],
                3,
            )
        return entry
    finally:
        server.stop()


def _report(runs: list[dict], reg: dict, seconds: int, load_before: tuple) -> None:
    print(
        f"\nHTTP on 127.0.0.1, {CONNECTIONS} connections, {seconds} s per run, "
        f"policy trained on {reg['train_records']:,} CRM records"
    )
    print(
        f"{'workers':>7} {'sync':>6} {'endpoint':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'cpu µs/req':>10} {'non2xx':>6} {'logged':>7}  rss MB/worker"
    )
    for r in runs:
        for ep in ("ping", "ping_post", "resolve"):
            if ep not in r:
                continue
            m = r[ep]
            print(
                f"{r['workers']:>7} {r['sqlite_synchronous']:>6} {ep:>9} "
                f"{m['requests_per_s']:>8.0f} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} "
                f"{m['server_cpu_us_per_request']:>10.0f} {m['non_2xx']:>6} "
                f"{m.get('logged', ''):>7}  {r['rss_mb_per_worker']}"
                + (
                    f" + log writers {r['rss_mb_per_log_writer']}"
                    if ep == "resolve" and r.get("rss_mb_per_log_writer")
                    else ""
                )
            )
        for base, name in (("ping", "GET ping"), ("ping_post", "POST ping")):
            if f"resolve_vs_{base}" not in r:
                continue
            ok = r[f"resolve_vs_{base}"] >= 0.5 and r["resolve"]["p99_ms"] <= 20
            print(
                f"        resolve/{name} = {r[f'resolve_vs_{base}']:.2f} (target ≥ 0.50), "
                f"p99 {r['resolve']['p99_ms']:.1f} ms (target ≤ 20): "
                f"{'met' if ok else 'NOT met'}"
            )
    print(
        "        CPU per request (robust to a busy machine): "
        + ", ".join(
            f"{r['workers']}w {base}/resolve = {r[f'cpu_ratio_{base}_over_resolve']:.2f}"
            for r in runs
            for base in ("ping", "ping_post")
            if f"cpu_ratio_{base}_over_resolve" in r
        )
    )
    for r in runs:
        lost = r["resolve"]["answered_2xx"] - r["resolve"]["logged"]
        print(
            f"        {r['workers']}w {r['sqlite_synchronous']}: {r['resolve']['answered_2xx']:,} "
            f"answered, {r['resolve']['logged']:,} logged ({'none lost' if lost <= 0 else lost})"
        )
    print(
        f"        load average (others' work on the same 2 cores): {load_before} → "
        f"{os.getloadavg()}"
    )
    path = write_result(
        "http",
        {
            "connections": CONNECTIONS,
            "seconds": seconds,
            "policy": reg,
            "runs": runs,
            "load_average_before_after": [load_before, os.getloadavg()],
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
