"""The deferred queue's depth behind /metrics on a large store: per query, and per scrape.

Issue 14 measured 0.53 s per count on a 367k-row store, run by every scrape (16 scrapes at once
pushed resolve's p50 from 4.6 to 35 ms). Measured here, in one run on one SQLite store of N
decisions (a third deferred, a tenth of those labelled, a tenth of ids re-sent):

- baseline: the count as it was (latest decision per record: a correlated NOT EXISTS over later
  decisions of the same id, then no label);
- now: the count of deferred decisions whose record has no label (a later decision never takes
  one out);
- a scrape: `CachedReading` as /metrics uses it (one count per 15 s per worker, concurrent
  scrapes never wait for one), over 16 threads scraping at once.

`python -m benchmarks queue_depth [--quick]` (--quick: 50k rows instead of 367k).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from autoresolve.service.decision_codec import log_row
from autoresolve.service.metrics import CachedReading
from autoresolve.service.store import DecisionStore
from autoresolve.service.store.tables import decisions, labels
from benchmarks.common import write_result


def _fill(store: DecisionStore, n: int) -> None:
    chunk = []
    for i in range(n):
        rid = f"r{i % (n - n // 10)}"  # a tenth of the ids come again
        deferred = i % 3 == 0
        out = {
            "record_id": rid,
            "outcome": "deferred" if deferred else "resolved",
            "resolution": None if deferred else "route_smb_queue",
            "source": None if deferred else "model",
            "rule_id": None,
            "confidence": 0.5,
            "threshold": 0.9,
            "defer_reason": "low_confidence" if deferred else None,
            "candidates": [],
            "policy_version": "crm:1",
            "decided_at": "2026-03-01T10:00:00.000Z",
        }
        chunk.append(log_row("crm", out, {"record_id": rid, "country": "DE"}))
        if len(chunk) == 20_000:
            store.log_rows(chunk)
            chunk = []
    if chunk:
        store.log_rows(chunk)
    store.upsert_labels("crm", [(f"r{i}", "merge_duplicate") for i in range(0, n // 3, 10)])


def _old_count(store: DecisionStore) -> int:
    later = decisions.alias("later")
    no_later = ~sa.exists().where(
        later.c.domain == decisions.c.domain,
        later.c.record_id == decisions.c.record_id,
        later.c.id > decisions.c.id,
    )
    no_label = ~sa.exists().where(
        labels.c.domain == decisions.c.domain, labels.c.record_id == decisions.c.record_id
    )
    q = (
        sa.select(sa.func.count())
        .select_from(decisions)
        .where(decisions.c.domain == "crm", decisions.c.outcome == "deferred", no_later, no_label)
    )
    with store.engine.connect() as c:
        return int(c.execute(q).scalar_one())


def _seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _scrapes(reading: CachedReading, threads: int, each: int) -> float:
    """Seconds per scrape with `threads` scraping at once."""

    def scrape() -> None:
        for _ in range(each):
            reading.get()

    workers = [threading.Thread(target=scrape) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.perf_counter() - t0) / (threads * each)


def main(argv: list[str]) -> int:
    n = 50_000 if "--quick" in argv else 367_000
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    try:
        store = DecisionStore.from_url(f"sqlite:///{tmp / 'store.db'}")
        store.migrate()
        t0 = time.perf_counter()
        _fill(store, n)
        print(f"filled {n:,} decisions in {time.perf_counter() - t0:.1f}s", flush=True)
        old = _seconds(lambda: _old_count(store), 3)
        new = _seconds(lambda: store.queue_depth("crm"), 3)
        reading = CachedReading(lambda: store.queue_depth("crm"))
        reading.get()
        scrape = _scrapes(reading, threads=16, each=200)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = {
        "decisions": n,
        "baseline_count_s": old,
        "count_s": new,
        "count_vs_baseline": new / old,
        "scrape_s_16_at_once": scrape,
        "scrape_vs_baseline": scrape / old,
    }
    for k, v in rows.items():
        print(f"{k:>22}: {v:.6g}")
    write_result("queue_depth", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
