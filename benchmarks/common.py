"""Helpers shared by the benchmarks: timing, peak memory, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from autoresolve.model.domain import Domain

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles_us(fn: Callable[[], Any], n: int, warmup: int = 50) -> dict[str, float]:
    """Per-call latency in microseconds (p50, p99, mean) over n calls after a warm-up."""
    for _ in range(warmup):
        fn()
    samples = np.empty(n)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn()
        samples[i] = clock() - t0
    samples /= 1000.0
    return {
        "p50_us": float(np.percentile(samples, 50)),
        "p99_us": float(np.percentile(samples, 99)),
        "mean_us": float(samples.mean()),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def data_file(domain: Domain) -> Path | None:
    """The domain's data file, or the same file under $AUTORESOLVE_DATASETS; None if absent."""
    path = domain.data_path
    if path is None or path.exists() or domain.generator:
        return path
    shared = os.environ.get("AUTORESOLVE_DATASETS")
    if shared:
        alt = Path(shared) / path.parent.name / path.name
        if alt.exists():
            return alt
    return None
