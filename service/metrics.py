"""Prometheus metrics: decisions by outcome/source/reason, latency, policy version, queue depth.

Each app owns its registry (several apps in one test process must not collide). With several
workers, set PROMETHEUS_MULTIPROC_DIR (`autoresolve serve --workers N` does, one folder per
`serve` process: two instances sharing a home never count each other's requests or delete each
other's files): every worker writes its samples there and /metrics merges them, so a scrape sees
the whole server, not one worker. A worker that died (kill -9, then restarted by uvicorn) has
its live gauges marked dead at the next scrape (`multiprocess.mark_process_dead`); its counters
stay, as Prometheus counters must.

The queue depth is read from the store at most every `QUEUE_DEPTH_EVERY_S` per worker, by one
scrape at a time (`CachedReading`): many scrapes at once never run many counts at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

QUEUE_DEPTH_EVERY_S = 15.0
_PID_FILE = re.compile(r"_(\d+)\.db$")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_dir() is not None
        self.decisions = Counter(
            "autoresolve_decisions",
            "Decisions made, by outcome, source (rule/model/none) and defer reason.",
            ["outcome", "source", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "autoresolve_request_seconds",
            "Time in an endpoint's handler once its request is validated, by endpoint "
            "(deciding and logging included).",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "autoresolve_errors",
            "Requests answered with an error, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.policy = Gauge(
            "autoresolve_policy_info",
            "1 for the policy version this worker serves.",
            ["domain", "version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "autoresolve_policy_reloads",
            "Policy reload attempts by result (loaded, refused, unchanged, error).",
            ["result"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "autoresolve_deferred_queue_depth",
            "Deferred decisions without a label (read from the store at scrape time).",
            ["domain"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.audit_depth = Gauge(
            "autoresolve_audit_queue_depth",
            "Audited automatic decisions without a label (read from the store at scrape time).",
            ["domain"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        guard = ["domain", "policy_version"]
        self.guard_state = Gauge(
            "autoresolve_guard_state",
            "The precision guard: 0 certified threshold, 1 threshold raised, 2 model suspended.",
            guard,
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.guard_threshold = Gauge(
            "autoresolve_guard_threshold",
            "The model's threshold in effect under the guard (+Inf: model suspended).",
            guard,
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.guard_quarantined = Gauge(
            "autoresolve_guard_quarantined_rules",
            "Rules the precision guard has quarantined (their records defer).",
            guard,
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.guard_recertify = Gauge(
            "autoresolve_guard_recertify_requested",
            "1 when the precision guard asks for recertification (`retrain --if-needed`).",
            guard,
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self._policy_labels: tuple[str, str] | None = None
        self._decision_children: dict[tuple[str, str, str], Any] = {}

    def count(self, decisions: Iterable[dict]) -> None:
        # `.labels()` validates and hashes its arguments on every call; the few label sets that
        # exist (outcome x source x reason) are bound once and kept.
        children = self._decision_children
        for d in decisions:
            key = (d["outcome"], d.get("source") or "none", d.get("defer_reason") or "none")
            child = children.get(key)
            if child is None:
                child = children[key] = self.decisions.labels(*key)
            child.inc()

    def set_policy(self, domain: str, version: str) -> None:
        if self._policy_labels is not None:
            self.policy.remove(*self._policy_labels)
        self._policy_labels = (domain, version)
        self.policy.labels(domain, version).set(1)

    def set_guard(self, domain: str, view: Any) -> None:
        """The guard gauges of the version `view` (model.serving.GuardView) is for."""
        v = view.verdict
        labels = (domain, view.state.policy_version)
        self.guard_state.labels(*labels).set(2 if v.model_suspended else 1 if v.level else 0)
        threshold = float("inf") if v.threshold is None else v.threshold
        self.guard_threshold.labels(*labels).set(threshold)
        self.guard_quarantined.labels(*labels).set(len(v.quarantined))
        self.guard_recertify.labels(*labels).set(1 if view.recertify else 0)

    def close(self) -> None:
        """A worker shutting down: its live gauges leave the merged view."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), multiprocess_dir())

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            mark_dead_workers(multiprocess_dir())
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_workers(folder: str | None) -> list[int]:
    """Mark the processes whose sample files are in `folder` but which are gone as dead (their
    live gauges disappear from the merge); returns their pids."""
    if not folder or not Path(folder).is_dir():
        return []
    from prometheus_client import multiprocess

    pids = {int(m.group(1)) for f in os.listdir(folder) if (m := _PID_FILE.search(f))}
    dead = sorted(pid for pid in pids if pid != os.getpid() and not process_alive(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, folder)
        for f in Path(folder).glob(f"gauge_live*_{pid}.db"):
            f.unlink(missing_ok=True)
    return dead


class CachedReading:
    """A value read by `read()` at most every `every_s`; concurrent callers while one reads get
    the last value instead of waiting (None before the first read finished)."""

    def __init__(self, read: Callable[[], float], every_s: float = QUEUE_DEPTH_EVERY_S):
        self._read = read
        self.every_s = every_s
        self.value: float | None = None
        self._at = float("-inf")
        self._lock = threading.Lock()
        self.reads = 0

    def get(self) -> float | None:
        if time.monotonic() - self._at < self.every_s:
            return self.value
        if not self._lock.acquire(blocking=False):
            return self.value
        try:
            if time.monotonic() - self._at >= self.every_s:
                self.value = self._read()
                self.reads += 1
                self._at = time.monotonic()
        finally:
            self._lock.release()
        return self.value
