"""HTTP: `POST /v1/resolve` against two baselines of the same app and against the peer a user
would pick, all in one run: same machine, same moment, same champion, 32 connections, 1 worker.

- `GET /v1/ping`: a constant through FastAPI's routing and the app's middleware;
- `POST /v1/ping`: the same CRM bodies through the same stack (parsed, validated against the same
  record model, same dependencies), answered with a constant;
- `POST /v1/resolve`: the documented route: validate, decide (rules + LightGBM), log the decision
  to the store, answer only after its commit;
- `mlflow models serve --env-manager local` on the same registered champion: `POST /invocations`
  with a one-record body (`{"dataframe_records": [record]}`), the same CRM records.

The server is `autoresolve serve` (uvicorn, OMP_NUM_THREADS=1) with a policy trained on the CRM
demo data and registered in a temporary MLflow store; the decision store is SQLite in WAL mode with
`synchronous=NORMAL` (every decision committed before its answer: durable across a crash of the
process, not across a power cut). The run counts the decisions logged against the 2xx answers.

Load generator: wrk (`apt-get install wrk`), 1 thread, 32 connections. Without wrk the run says
so and uses a Python asyncio generator, which shares the 2 cores with the server and understates
its throughput; its figures are not comparable with wrk's.

Targets: resolve ≥ 0.5 × GET ping and ≥ 0.5 × POST ping in requests/s, resolve p99 ≤ 20 ms.
Each round runs every endpoint for 5 s, interleaved (GET ping, POST ping, resolve, mlflow, …), so
a busy neighbour hits all alike; figures are medians over 3 rounds, ratios the median of the
per-round ratios. Server CPU time per request is reported too, and its ratio: a busy neighbour
distorts it less than requests/s (not at all only on an idle machine: caches are shared).

`--quick`: one round. `--full`: also 2 workers (SQLite NORMAL and FULL) and PostgreSQL, resolve
only (PostgreSQL skipped, and said so, when it is not reachable).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from benchmarks.http_load import CONNECTIONS, GENERATOR, load

ROOT = Path(__file__).resolve().parents[1]
CRM = ROOT / "data" / "crm"
KEY = "bench-key-0123456789abcdef"
# resolve needs a key outside development (issue 14): the load generators send it
os.environ.setdefault("BENCH_API_KEY", KEY)
SECONDS = 5
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENDPOINTS = ("ping", "ping_post", "resolve", "mlflow")


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


class Process:
    """A server in its own process group, with its output in a log file."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, url: str, ready: str):
        self.url = url
        self.ready_url = url + ready
        self.log = log
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 240) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"{self.ready_url} not ready: " + self.log.read_text()[-2000:])

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

    def rss_mb(self) -> list[float]:
        out = []
        for pid in self.group_pids():
            with contextlib.suppress(OSError, StopIteration):
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                kb = next(line for line in status if line.startswith("VmRSS:")).split()[1]
                out.append(round(int(kb) / 1024, 1))
        return sorted(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def autoresolve_server(
    home: Path, workers: int, synchronous: str = "NORMAL", database_url: str | None = None
) -> Process:
    port = _free_port()
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
    cmd = [sys.executable, "-c", "from autoresolve.service.cli import app; app()", "serve"]
    cmd += ["--domain", str(CRM), "--port", str(port), "--workers", str(workers)]
    cmd += ["--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    return Process(cmd, env, home / f"serve-{port}.log", url, "/readyz")


def mlflow_server(home: Path) -> Process:
    """`mlflow models serve` on the registered champion, one worker, as its docs show it."""
    port = _free_port()
    bindir = Path(sys.executable).parent  # mlflow execs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "OMP_NUM_THREADS": "1",
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    cmd = [str(bindir / "mlflow"), "models", "serve", "-m", "models:/crm@champion"]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    url = f"http://127.0.0.1:{port}"
    return Process(cmd, env, home / f"mlflow-{port}.log", url, "/ping")


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


def write_bodies(tmp: Path, bodies: list[str]) -> dict[str, Path]:
    """One file of request bodies per kind of endpoint (one body a line)."""
    files = {"record": tmp / "bodies.jsonl", "invocations": tmp / "invocations.jsonl"}
    files["record"].write_text("\n".join(bodies) + "\n")
    wrapped = [f'{{"dataframe_records":[{b}]}}' for b in bodies]
    files["invocations"].write_text("\n".join(wrapped) + "\n")
    return files


def main(argv: list[str]) -> int:
    quick, full = "--quick" in argv, "--full" in argv
    if not GENERATOR.startswith("wrk"):
        print(
            "wrk is NOT installed (apt-get install wrk): using the Python load generator, which "
            "shares the 2 cores with the server; its figures understate every server and are "
            "not comparable with wrk's.",
            file=sys.stderr,
        )
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    reg = register_policy(tmp)
    files = write_bodies(tmp, sample_bodies())
    rounds = 1 if quick else 3
    load_before = os.getloadavg()
    runs = [_run_main(tmp, files, rounds)]
    if full:
        runs += _run_more(tmp, files, rounds)
    _report(runs, reg, load_before)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _warm(url: str, path: str, bodies_file: Path, n: int = 20) -> None:
    import httpx

    headers = {"content-type": "application/json", "x-api-key": KEY}
    for body in bodies_file.read_text().splitlines()[:n]:
        httpx.post(url + path, content=body, headers=headers, timeout=60)


def _measure(server: Process, kind: str, files: dict[str, Path], tmp: Path) -> dict:
    """One load run of SECONDS against one endpoint, with the server's CPU time per request."""
    cpu0 = server.cpu_seconds()
    if kind == "ping":
        m = load(server.url, "GET", "/v1/ping", None, SECONDS, tmp)
    elif kind == "mlflow":
        m = load(server.url, "POST", "/invocations", files["invocations"], SECONDS, tmp)
    else:
        path = "/v1/ping" if kind == "ping_post" else "/v1/resolve"
        m = load(server.url, "POST", path, files["record"], SECONDS, tmp)
    m["server_cpu_us_per_request"] = round(
        (server.cpu_seconds() - cpu0) / max(1, m["requests"]) * 1e6, 1
    )
    return m


def _run_main(tmp: Path, files: dict[str, Path], rounds: int) -> dict:
    """1 worker: the two baselines, resolve and mlflow serve, interleaved rounds."""
    ours, peer = autoresolve_server(tmp, 1), mlflow_server(tmp)
    try:
        ours.wait_ready()
        peer.wait_ready()
        _warm(ours.url, "/v1/resolve", files["record"])
        _warm(peer.url, "/invocations", files["invocations"])
        before = count_logged(tmp)
        samples: dict[str, list[dict]] = {k: [] for k in ENDPOINTS}
        for _ in range(rounds):
            for kind in ENDPOINTS:
                samples[kind].append(_measure(peer if kind == "mlflow" else ours, kind, files, tmp))
        entry = _summarise(samples, workers=1, store="SQLite NORMAL")
        entry["resolve"]["logged"] = count_logged(tmp) - before
        entry["rss_mb"] = {"autoresolve": ours.rss_mb(), "mlflow": peer.rss_mb()}
        return entry
    finally:
        ours.stop()
        peer.stop()


def _run_more(tmp: Path, files: dict[str, Path], rounds: int) -> list[dict]:
    """2 workers: SQLite NORMAL (with the GET baseline), FULL, and PostgreSQL; resolve only."""
    out = []
    for sync in ("NORMAL", "FULL", "PG"):
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(pg_schema()) if sync == "PG" else None
            if sync == "PG" and url is None:
                continue
            server = autoresolve_server(tmp, 2, "NORMAL" if sync == "PG" else sync, url)
            try:
                server.wait_ready()
                for _ in range(2):  # both workers warm (connections spread over them)
                    _warm(server.url, "/v1/resolve", files["record"])
                before = count_logged(tmp, url)
                kinds = ("ping", "resolve") if sync == "NORMAL" else ("resolve",)
                samples: dict[str, list[dict]] = {k: [] for k in kinds}
                for _ in range(rounds):
                    for kind in kinds:
                        samples[kind].append(_measure(server, kind, files, tmp))
                store = "PostgreSQL (local)" if sync == "PG" else f"SQLite {sync}"
                entry = _summarise(samples, workers=2, store=store)
                entry["resolve"]["logged"] = count_logged(tmp, url) - before
                entry["rss_mb"] = {"autoresolve": server.rss_mb()}
                out.append(entry)
            finally:
                server.stop()
    return out


def _median_run(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_request"):
        out[key] = round(float(np.median([r[key] for r in runs])), 3)
    out["requests"] = sum(r["requests"] for r in runs)
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["answered_2xx"] = out["requests"] - out["non_2xx"]
    out["rounds_requests_per_s"] = [round(r["requests_per_s"], 1) for r in runs]
    return out


def _summarise(samples: dict[str, list[dict]], *, workers: int, store: str) -> dict:
    entry: dict = {"workers": workers, "store": store, "rounds": len(samples["resolve"])}
    for kind, ms in samples.items():
        entry[kind] = _median_run(ms)
    for base in ("ping", "ping_post", "mlflow"):
        if base not in samples:
            continue
        ratios = [
            r["requests_per_s"] / q["requests_per_s"]
            for r, q in zip(samples["resolve"], samples[base], strict=True)
        ]
        entry[f"resolve_vs_{base}"] = round(float(np.median(ratios)), 3)
        entry[f"resolve_vs_{base}_rounds"] = [round(x, 3) for x in ratios]
        cpu = "server_cpu_us_per_request"
        entry[f"cpu_{base}_over_resolve"] = round(entry[base][cpu] / entry["resolve"][cpu], 3)
    return entry


def _report(runs: list[dict], reg: dict, load_before: tuple) -> None:
    print(
        f"\nHTTP on 127.0.0.1, {GENERATOR}, {CONNECTIONS} connections, {SECONDS} s per run, "
        f"policy trained on {reg['train_records']:,} CRM records"
    )
    print(
        f"{'workers':>7} {'store':>18} {'endpoint':>10} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'cpu µs/req':>10} {'non2xx':>6} {'logged':>7}"
    )
    for r in runs:
        for ep in ENDPOINTS:
            if ep not in r:
                continue
            m = r[ep]
            print(
                f"{r['workers']:>7} {r['store']:>18} {ep:>10} {m['requests_per_s']:>8.0f} "
                f"{m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['server_cpu_us_per_request']:>10.0f} "
                f"{m['non_2xx']:>6} {m.get('logged', ''):>7}"
            )
        _report_ratios(r)
    print(
        f"        load average (others' work on the same 2 cores): {load_before} → "
        f"{os.getloadavg()}"
    )
    payload = {"generator": GENERATOR, "connections": CONNECTIONS, "seconds": SECONDS}
    payload |= {"policy": reg, "runs": runs}
    payload["load_average_before_after"] = [load_before, os.getloadavg()]
    print(f"written {write_result('http', payload)}")


def _report_ratios(r: dict) -> None:
    resolve = r["resolve"]
    p99_ok = resolve["p99_ms"] <= 20
    for base, name in (("ping", "GET ping"), ("ping_post", "POST ping")):
        if f"resolve_vs_{base}" in r:
            ratio = r[f"resolve_vs_{base}"]
            print(
                f"        resolve / {name} = {ratio:.2f} (rounds {r[f'resolve_vs_{base}_rounds']}"
                f"; goal ≥ 0.50): {'met' if ratio >= 0.5 else 'NOT met'}; server CPU per "
                f"request {name} / resolve = {r[f'cpu_{base}_over_resolve']:.2f}"
            )
    print(
        f"        resolve p99 = {resolve['p99_ms']:.1f} ms (goal ≤ 20): "
        f"{'met' if p99_ok else 'NOT met'}"
    )
    if "resolve_vs_mlflow" in r:
        print(
            f"        autoresolve resolve / mlflow models serve = {r['resolve_vs_mlflow']:.1f}× "
            f"(rounds {r['resolve_vs_mlflow_rounds']})"
        )
    lost = resolve["answered_2xx"] - resolve["logged"]
    print(
        f"        {r['workers']}w {r['store']}: {resolve['answered_2xx']:,} answered, "
        f"{resolve['logged']:,} logged ({'none lost' if lost <= 0 else f'{lost} LOST'})"
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
