"""Run the benchmarks: `python -m benchmarks [name ...] [--quick]`; `--help` lists them.

Each `benchmarks/bench_<name>.py` is run in its own process (so one benchmark's memory and threads
do not colour another's), prints its table, and writes `benchmarks/results/<name>.json`. Every
figure is reported as a ratio against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, str]:
    """name → the first line of its docstring, read without importing the benchmark."""
    out = {}
    for path in sorted(HERE.glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        out[path.stem.removeprefix("bench_")] = doc.strip().splitlines()[0] if doc else ""
    return out


def _parser(names: dict[str, str]) -> argparse.ArgumentParser:
    width = max(map(len, names), default=0)
    listing = "\n".join(f"  {n:<{width}}  {d}" for n, d in names.items())
    return argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks, each in its own process; with no name, all of them.",
        epilog=f"benchmarks:\n{listing}\n\nOther flags (e.g. --no-spark) go to each benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str]) -> int:
    names = available()
    parser = _parser(names)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args, passthrough = parser.parse_known_args(argv)
    unknown = [w for w in args.names if w not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}")
    flags = (["--quick"] if args.quick else []) + passthrough
    failed = []
    for name in args.names or list(names):
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
