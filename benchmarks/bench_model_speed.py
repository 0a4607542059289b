"""Speed of the policy on the CRM demo: one record, a million records, and training.

Phases run in separate processes so each one's peak memory is its own:

- single: `Policy.decide_record` (coercion + rules + features + LightGBM + calibration + novelty)
  on JSON-like records, p50/p99 µs, against the naive path measured in the same run: the same
  kind of model (LightGBM's scikit-learn API, same trees) behind a scikit-learn Pipeline with a
  ColumnTransformer, fed `pd.DataFrame([record])`. Also checks that the single-record
  probabilities equal the batch path's (max |Δ|, must be ≤ 1e-9).
- batch: `Policy.decide_frame` on 1,000,000 fresh records from the demo generator (another
  seed), records/s with LightGBM on one and on two threads, and peak RSS, against
  `pd.DataFrame.to_dict('records')` on the same frame (a floor any row-wise path pays).
- train: `train_policy` on 200,000 generated records, seconds and peak RSS, with the 24,000-record
  demo in the same process as the baseline.

`python -m benchmarks model_speed [--quick]` (--quick: 200k batch, 50k training rows).
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import load_domain
from autoresolve.model.train import train_policy
from benchmarks.common import peak_rss_mb, percentiles_us, timed, write_result

DOMAIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def _domain_and_frame():
    domain = load_domain(os.path.join(DOMAIN_DIR, "crm"))
    return domain, load_domain_frame(domain)


def json_record(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            out[k] = v.isoformat()
        elif (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            out[k] = None
        else:
            out[k] = v.item() if hasattr(v, "item") else v
    return out


def generated(n: int, seed: int) -> pd.DataFrame:
    from autoresolve.model.generators.crm import generate

    return generate(n=n, seed=seed)


def naive_pipeline(domain, df: pd.DataFrame, n_trees: int):
    """The usual first implementation: DataFrame in, ColumnTransformer, LGBMClassifier."""
    from lightgbm import LGBMClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    cats = domain.fields_of("category")
    nums = domain.fields_of("number") + domain.fields_of("boolean")
    texts = domain.fields_of("text")

    def to_float(x):
        return x.astype(float)

    def fill_text(x):
        return x.fillna("").astype(str)

    steps = [
        (
            "cat",
            OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                encoded_missing_value=-1,
                min_frequency=3,
            ),
            cats,
        ),
        ("num", FunctionTransformer(to_float), nums),
    ]
    steps += [
        (
            f"txt_{t}",
            Pipeline(
                [
                    ("fill", FunctionTransformer(fill_text)),
                    ("vec", CountVectorizer(max_features=60, binary=True)),
                ]
            ),
            t,
        )
        for t in texts
    ]
    pipe = Pipeline(
        [
            ("prep", ColumnTransformer(steps, sparse_threshold=0.0)),
            (
                "model",
                LGBMClassifier(n_estimators=n_trees, num_leaves=31, verbose=-1, n_jobs=1),
            ),
        ]
    )
    X = df[cats + nums + texts].copy()
    X[cats] = X[cats].astype(object).where(X[cats].notna(), None)
    pipe.fit(X, df[domain.label].astype(str))
    return pipe, cats + nums + texts


def phase_single(quick: bool) -> dict[str, Any]:
    domain, df = _domain_and_frame()
    policy, _report = train_policy(domain, df, seed=0)
    rng = np.random.default_rng(0)
    sample = df.iloc[rng.choice(len(df), 1000, replace=False)]
    records = [json_record(r) for _, r in sample.iterrows()]
    rule_free = [r for r in records if policy.rules.match_record(r) is None]
    it = iter(range(10**9))

    def one_any() -> None:
        policy.decide_record(records[next(it) % len(records)])

    def one_free() -> None:
        policy.decide_record(rule_free[next(it) % len(rule_free)])

    n = 2000 if quick else 5000
    ours_all = percentiles_us(one_any, n)
    ours_free = percentiles_us(one_free, n)

    n_trees = policy.estimator.describe().get("trees_per_class", 100)
    pipe, cols = naive_pipeline(domain, df, int(n_trees))

    def naive() -> None:
        rec = rule_free[next(it) % len(rule_free)]
        policy.rules.match_record(rec)
        pipe.predict_proba(pd.DataFrame([{c: rec.get(c) for c in cols}]))

    naive_t = percentiles_us(naive, 300 if quick else 1000, warmup=20)

    # single-record probabilities vs the batch path
    frame = policy.decide_frame(pd.DataFrame(rule_free))
    diffs, same = [], 0
    for i, rec in enumerate(rule_free):
        d = policy.decide_record(rec)
        row = frame.iloc[i]
        same += d.outcome == row["outcome"] and (d.defer_reason == row["defer_reason"])
        for a, b in zip(d.candidates, row["candidates"], strict=True):
            diffs.append(abs(a.probability - b["probability"]))
    return {
        "estimator": policy.estimator.describe(),
        "threshold": policy.threshold,
        "decide_record_all_us": ours_all,
        "decide_record_rule_free_us": ours_free,
        "naive_dataframe_pipeline_us": naive_t,
        "speedup_p50_vs_naive": naive_t["p50_us"] / ours_free["p50_us"],
        "max_abs_prob_diff_record_vs_batch": float(max(diffs)) if diffs else 0.0,
        "identical_decisions": f"{same}/{len(rule_free)}",
        "peak_rss_mb": peak_rss_mb(),
    }


def phase_batch(quick: bool) -> dict[str, Any]:
    domain, df = _domain_and_frame()
    policy, _ = train_policy(domain, df, seed=0)
    n = 200_000 if quick else 1_000_000
    big = generated(n, seed=7).drop(columns=[domain.label])
    rss_before = peak_rss_mb()
    out, secs = timed(lambda: policy.decide_frame(big))
    assert len(out) == n
    rss_decide = peak_rss_mb()
    two = copy.copy(policy)
    two.batch_threads = 2
    _, secs2 = timed(lambda: two.decide_frame(big))
    _, floor_s = timed(lambda: big.to_dict("records"))
    return {
        "records": n,
        "rule_free_share": float(out["rule_id"].isna().mean()),
        "seconds_1_thread": secs,
        "records_per_s": n / secs,
        "seconds_2_threads": secs2,
        "records_per_s_2_threads": n / secs2,
        "to_dict_records_per_s": n / floor_s,
        "ratio_vs_to_dict": (n / secs) / (n / floor_s),
        "outcomes": out["outcome"].value_counts().to_dict(),
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb_after_decide": rss_decide,
        "peak_rss_mb": peak_rss_mb(),
    }


def phase_train(quick: bool) -> dict[str, Any]:
    domain, df = _domain_and_frame()
    n = 50_000 if quick else 200_000
    big = generated(n, seed=11)
    _, base_s = timed(lambda: train_policy(domain, df, seed=0))
    rss_before = peak_rss_mb()
    (_policy, report), secs = timed(lambda: train_policy(domain, big, seed=0))
    return {
        "rows": n,
        "seconds": secs,
        "rows_per_s": n / secs,
        "baseline_24k_rows_seconds": base_s,
        "chosen": report.chosen,
        "trees_per_class": report.candidates["lightgbm"]["estimator"].get("trees_per_class"),
        "test_coverage": report.metrics["coverage"],
        "test_precision": report.metrics["realised_precision"],
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


PHASES = {"single": phase_single, "batch": phase_batch, "train": phase_train}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    if "--phase" in argv:
        name = argv[argv.index("--phase") + 1]
        print(json.dumps(PHASES[name](quick), default=str))
        return 0
    results: dict[str, Any] = {}
    for name in PHASES:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_model_speed", "--phase", name, *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[{name}] {time.perf_counter() - t0:.1f}s: {json.dumps(results[name], indent=1)}")
    s, b, t = results["single"], results["batch"], results["train"]
    print("\nsummary")
    one, naive = s["decide_record_rule_free_us"], s["naive_dataframe_pipeline_us"]
    print(
        f"  one record (rule-free), rules+model: p50 {one['p50_us']:.0f} µs, "
        f"p99 {one['p99_us']:.0f} µs; naive DataFrame→Pipeline p50 {naive['p50_us']:.0f} µs "
        f"→ {s['speedup_p50_vs_naive']:.1f}×"
    )
    print(f"  max |p_record − p_batch| = {s['max_abs_prob_diff_record_vs_batch']:.2e}")
    print(
        f"  batch {b['records']:,} records: {b['records_per_s']:,.0f} records/s "
        f"(2 threads: {b['records_per_s_2_threads']:,.0f}) "
        f"({b['ratio_vs_to_dict']:.2f}× of to_dict('records')), "
        f"peak RSS {b['peak_rss_mb_after_decide']:.0f} MB "
        f"(data + trained policy before: {b['peak_rss_mb_before']:.0f} MB)"
    )
    print(f"  train {t['rows']:,} rows: {t['seconds']:.1f} s, peak RSS {t['peak_rss_mb']:.0f} MB")
    path = write_result("model_speed", {"quick": quick, **results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
