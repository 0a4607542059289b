"""The replay of 150,000 road_fines records in 12 periods: wall time and peak memory.

Baseline of the same run: one `train_policy` on the same 150,000 rows (what a single training of
the whole history costs). Each measurement runs in its own fresh process (spawned), so the peak
resident memory of one does not hide inside the other's; the figures are the replay's wall time
and peak memory as ratios to the baseline's, plus the replay's own breakdown (trainings, records
decided per second).

`--quick` replays 30,000 records in 4 periods.
Data: ../shared/datasets/road_fines (read in place; skipped with a message when absent).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.common import write_result

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "data" / "road_fines"
DATA = ROOT.parent / "shared" / "datasets" / "road_fines" / "road_fines_cases.csv.gz"


def _load(rows: int):
    from autoresolve.model.datasets import load_domain_frame, time_order
    from autoresolve.model.domain import load_domain

    dom = load_domain(DOMAIN)
    df = time_order(load_domain_frame(dom, DATA), dom).head(rows).reset_index(drop=True)
    return dom, df


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(kind: str, rows: int, periods: int, out: mp.Queue) -> None:
    dom, df = _load(rows)
    loaded_mb = _peak_mb()
    t0 = time.perf_counter()
    if kind == "train":
        from autoresolve.model.train import train_policy

        _policy, report = train_policy(dom, df, seed=0)
        extra = {"coverage_test": report.metrics.get("coverage")}
    else:
        from autoresolve.model.simulate import simulate

        res = simulate(dom, df, periods, seed=0)
        s = res.to_dict()
        extra = {
            "retrains": s["summary"].get("retrains"),
            "promotions": s["summary"].get("promotions"),
            "last_autonomy": s["summary"].get("last_autonomy"),
            "records_decided": sum(p["records"] for p in s["periods"] if p["role"] == "replay"),
            "split": s["split"],
        }
    seconds = time.perf_counter() - t0
    out.put(
        {
            "kind": kind,
            "rows": len(df),
            "seconds": seconds,
            "peak_rss_mb": _peak_mb(),
            "peak_after_load_mb": loaded_mb,
            **extra,
        }
    )


def _measure(kind: str, rows: int, periods: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, rows, periods, q))
    p.start()
    result = q.get()
    p.join()
    return result


def main(argv: list[str]) -> int:
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent (road_fines lives in ../shared/datasets).")
        return 0
    quick = "--quick" in argv
    rows, periods = (30_000, 4) if quick else (150_000, 12)
    base = _measure("train", rows, periods)
    sim = _measure("simulate", rows, periods)
    ratios = {
        "wall_time_vs_one_training": sim["seconds"] / base["seconds"],
        "peak_memory_vs_one_training": sim["peak_rss_mb"] / base["peak_rss_mb"],
        "decided_records_per_s": sim["records_decided"] / sim["seconds"],
    }
    payload = {
        "rows": rows,
        "periods": periods,
        "baseline_one_train_policy": base,
        "replay": sim,
        "ratios": ratios,
    }
    print(json.dumps(payload, indent=2))
    print(
        f"\nreplay of {rows:,} road_fines records in {periods} periods: {sim['seconds']:.1f} s, "
        f"peak {sim['peak_rss_mb']:.0f} MB ({sim['retrains']} challengers trained); one "
        f"train_policy on the same rows: {base['seconds']:.1f} s, peak {base['peak_rss_mb']:.0f} "
        f"MB → {ratios['wall_time_vs_one_training']:.1f}× the time, "
        f"{ratios['peak_memory_vs_one_training']:.2f}× the memory."
    )
    write_result("simulate", payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
