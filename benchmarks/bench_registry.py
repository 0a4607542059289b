"""Registry and batch resolve: what MLflow and file IO cost around the policy.

Figures, each against a baseline from the same run:
- training the CRM demo (24,000 records) and registering it in a fresh MLflow SQLite store, vs.
  `train_policy` alone; loading the champion back (download + sha256 check + unpickle);
- `resolve` over a file: the local engine (CSV and Parquet, in chunks, file to file) and the Spark
  engine (`mlflow.pyfunc.spark_udf`, local[2], Parquet to Parquet, session start excluded), vs.
  `Policy.decide_frame` on the same records already in memory.

`--quick` uses 50,000 records for the resolve part (default 200,000); `--no-spark` skips Spark.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from autoresolve.model import registry
from autoresolve.model.domain import load_domain
from autoresolve.model.generators import crm
from autoresolve.model.train import train_policy
from benchmarks.common import peak_rss_mb, timed, write_result

CRM = Path(__file__).resolve().parents[1] / "data" / "crm"


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def main(argv: list[str]) -> int:
    from autoresolve.service import batch_io

    quick = "--quick" in argv
    n = 50_000 if quick else 200_000
    domain = load_domain(CRM)
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    registry.configure(f"sqlite:///{tmp / 'mlflow.db'}", tmp / "artifacts")

    history = crm.generate()
    (_p0, _r0), train_s = timed(lambda: train_policy(domain, history, seed=0))
    t0 = time.perf_counter()
    policy, report = train_policy(domain, history, seed=0)
    version = registry.log_policy(policy, report, run_name="bench")
    train_register_s = time.perf_counter() - t0
    policy, load_s = timed(lambda: registry.load_policy("crm", version))

    records = crm.generate(n, seed=11).drop(columns=[domain.label])
    csv_in, pq_in = tmp / "in.csv", tmp / "in.parquet"
    records.to_csv(csv_in, index=False)
    records.to_parquet(pq_in, index=False)
    _, mem_s = timed(lambda: policy.decide_frame(records))
    csv_sum = batch_io.resolve_local(policy, csv_in, tmp / "out.csv", chunk_rows=100_000)
    pq_sum = batch_io.resolve_local(policy, pq_in, tmp / "out.parquet", chunk_rows=100_000)
    rows = {
        "in-memory decide_frame (baseline)": mem_s,
        "local engine CSV → CSV": csv_sum.seconds,
        "local engine Parquet → Parquet": pq_sum.seconds,
    }
    spark_start_s = None
    if "--no-spark" not in argv:
        t1 = time.perf_counter()
        spark = batch_io.spark_session("local[2]")
        udf = registry.spark_udf(spark, "crm", version)
        spark_start_s = time.perf_counter() - t1
        sp_sum = batch_io.resolve_spark(spark, udf, domain, pq_in, tmp / "spark.parquet")
        rows["spark engine Parquet → Parquet (local[2])"] = sp_sum.seconds
        a = pd.read_parquet(tmp / "out.parquet").drop(columns=["decided_at"])
        b = pd.read_parquet(tmp / "spark.parquet").drop(columns=["decided_at"])
        same = bool(a.astype(object).fillna("∅").equals(b.astype(object).fillna("∅")))
        spark.stop()
    else:
        same = None

    result = {
        "history_records": len(history),
        "train_s": train_s,
        "train_and_register_s": train_register_s,
        "register_overhead_vs_train": (train_register_s - train_s) / train_s,
        "load_policy_s": load_s,
        "resolve_records": n,
        "resolve": {
            k: {"seconds": v, "records_per_s": _rate(n, v), "vs_in_memory": v / mem_s}
            for k, v in rows.items()
        },
        "spark_session_and_udf_s": spark_start_s,
        "spark_equals_local": same,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(
        f"train {len(history):,} records: {train_s:.1f}s; train + register "
        f"{train_register_s:.1f}s (registry +{100 * result['register_overhead_vs_train']:.0f}%); "
        f"load_policy {load_s:.2f}s"
    )
    for k, v in rows.items():
        print(f"{k:45s} {n / v:>10,.0f} records/s  ({v:.2f}s, ×{v / mem_s:.2f} the baseline)")
    if spark_start_s is not None:
        print(f"Spark session + UDF: {spark_start_s:.1f}s; identical to local: {same}")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    write_result("registry", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
