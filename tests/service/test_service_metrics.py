"""Issue 14: metrics with several instances and workers, and a cheap queue depth.

Two `serve --workers 2` sharing one home used one multiprocess folder: A counted B's requests,
and restarting B deleted A's files. A worker killed by kill -9 kept its live gauges for good.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from autoresolve.service.cli_serve import instance_metrics_dir
from autoresolve.service.metrics import CachedReading, mark_dead_workers

_WORKER = """
import os
from autoresolve.service.metrics import Metrics
m = Metrics()
m.set_policy("crm", "7")
m.count([{"outcome": "resolved", "source": "rule", "defer_reason": None}])
print(os.getpid())
"""


def test_each_instance_gets_its_own_folder_and_keeps_a_live_ones(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = tmp_path / "prometheus" / str(live.pid)
        other.mkdir(parents=True)
        (other / "counter_1.db").write_bytes(b"x")
        gone = tmp_path / "prometheus" / "999999999"
        gone.mkdir()
        mine = instance_metrics_dir(tmp_path)
        assert mine == tmp_path / "prometheus" / str(os.getpid())
        assert (other / "counter_1.db").exists()  # another live instance: untouched
        assert not gone.exists()  # an instance that is gone: cleaned up
    finally:
        live.kill()
        live.wait()


def test_a_dead_workers_live_gauges_leave_the_merge_and_its_counters_stay(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER], env=env, capture_output=True, text=True, check=True
    )
    pid = int(out.stdout.strip())
    assert any(f.startswith("gauge_liveall") for f in os.listdir(tmp_path))
    assert mark_dead_workers(str(tmp_path)) == [pid]
    assert not any(f.startswith("gauge_liveall") for f in os.listdir(tmp_path))
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=str(tmp_path))
    text = generate_latest(merged).decode()
    assert "autoresolve_decisions_total" in text and 'version="7"' not in text


def test_many_scrapes_at_once_run_one_count():
    started = threading.Event()
    release = threading.Event()

    def slow_count() -> float:
        started.set()
        release.wait(10)
        return 42.0

    reading = CachedReading(slow_count, every_s=60)
    first = threading.Thread(target=reading.get)
    first.start()
    started.wait(10)
    others = [reading.get() for _ in range(16)]  # while the first one is counting
    release.set()
    first.join()
    assert others == [None] * 16 and reading.reads == 1
    assert reading.get() == 42.0 and reading.reads == 1  # within every_s: the cached value
