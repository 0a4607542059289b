"""Run the benchmarks: `python -m benchmarks [name ...] [--quick]`.

Each `benchmarks/bench_<name>.py` is run in its own process (so one benchmark's memory and threads
do not colour another's), prints its table, and writes `benchmarks/results/<name>.json`. Every
figure is reported as a ratio against a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("-")]
    wanted = [a for a in argv if not a.startswith("-")]
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    failed = []
    for name in wanted or names:
        print(f"\n=== benchmark {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.bench_{name}", *flags])
        print(f"=== {name}: exit {rc} in {time.perf_counter() - t0:.1f}s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
