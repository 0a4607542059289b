"""Prometheus metrics: decisions by outcome/source/reason, latency, policy version, queue depth.

Each app owns its registry (several apps in one test process must not collide). With several
workers, set PROMETHEUS_MULTIPROC_DIR (`autoresolve serve --workers N` does): every worker writes
its samples there and /metrics merges them, so a scrape sees the whole server, not one worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

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

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
