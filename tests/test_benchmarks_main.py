"""`python -m benchmarks --help` explains and runs nothing (it used to run every benchmark)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_benchmarks_and_runs_none() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert "=== benchmark" not in done.stdout
    assert "usage: python -m benchmarks" in done.stdout
    names = sorted(p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py"))
    for name in names:
        assert f"  {name} " in done.stdout, name


def test_an_unknown_benchmark_is_a_usage_error() -> None:
    done = _run("no_such_bench")
    assert done.returncode == 2
    assert "unknown benchmark" in done.stderr and "=== benchmark" not in done.stdout
