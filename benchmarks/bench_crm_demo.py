"""CRM demo data: generation speed, coercion speed, and whether the unruled half is learnable.

Figures, each against a baseline from the same run:
- generating 1,000,000 records vs. the floor of drawing the same number of random columns into a
  DataFrame (no structure at all);
- `coerce_frame` over those records vs. a plain `DataFrame.copy()`;
- `coerce_record` per record vs. copying the dict;
- LightGBM on the records no rule resolves, time-ordered (train months 1–8, calibrate month 9,
  test months 10–12), against a majority-per-error-code baseline: accuracy, and the share of
  records above the confidence that reached 95 % precision on the calibration month.

`--quick` uses 200,000 records for the speed part.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

from autoresolve.model.domain import load_domain
from autoresolve.model.generators import crm
from autoresolve.model.records import coerce_frame, coerce_record
from autoresolve.rules import load_rules
from benchmarks.common import peak_rss_mb, percentiles_us, timed, write_result

CRM = Path(__file__).resolve().parents[1] / "data" / "crm"


def _floor(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {}
    for j in range(10):
        cols[f"c{j}"] = np.asarray([f"v{k}" for k in range(50)], dtype=object)[
            rng.integers(0, 50, n)
        ]
    for j in range(8):
        cols[f"x{j}"] = rng.normal(size=n)
    return pd.DataFrame(cols)


def _features(df: pd.DataFrame, domain) -> pd.DataFrame:
    cats = domain.fields_of("category")
    nums = domain.fields_of("number") + domain.fields_of("boolean")
    vec = CountVectorizer(binary=True, max_features=300, token_pattern=r"[a-z]{2,}")
    words = vec.fit_transform(df["notes"].fillna("")).toarray()
    parts = [
        pd.DataFrame({c: df[c].astype("category") for c in cats}),
        df[nums].reset_index(drop=True),
        pd.DataFrame(words, columns=[f"w_{w}" for w in vec.get_feature_names_out()]),
    ]
    return pd.concat([p.reset_index(drop=True) for p in parts], axis=1)


def learnability(domain) -> dict:
    df, meta = crm.generate_with_meta()
    rules = load_rules(domain.rules_path, domain.field_types, domain.resolutions)
    hit = rules.match_frame(df)
    then = np.array([r.then for r in rules.rules] + [None], dtype=object)[hit]
    resolved = (hit >= 0) & (then != "defer")
    label = df["resolution"].to_numpy()
    out = {
        "rule_coverage": float(resolved.mean()),
        "rule_precision": float((then[resolved] == label[resolved]).mean()),
        "rule_defer_share": float((then == "defer").mean()),
        "label_noise_all": float(meta["noisy"].mean()),
        "label_noise_unruled": float(meta["noisy"][hit == -1].mean()),
    }
    month = df["created_at"].dt.month.to_numpy()
    X = _features(df, domain)
    classes = np.array(sorted(domain.resolutions), dtype=object)
    y = np.searchsorted(classes, label)
    unruled = hit == -1
    tr, ca, te = unruled & (month <= 8), unruled & (month == 9), unruled & (month >= 10)
    model = lgb.LGBMClassifier(
        n_estimators=300, learning_rate=0.05, min_child_samples=10, n_jobs=1, verbose=-1
    )
    _, fit_s = timed(lambda: model.fit(X[tr], y[tr]))
    base = (
        pd.DataFrame({"e": df["error_code"][tr], "y": y[tr]})
        .groupby("e")["y"]
        .agg(lambda s: s.value_counts().index[0])
    )
    fallback = np.bincount(y[tr]).argmax()
    conf_cal = model.predict_proba(X[ca])
    ok_cal = conf_cal.argmax(1) == y[ca]
    order = np.argsort(-conf_cal.max(1))
    running = np.cumsum(ok_cal[order]) / np.arange(1, len(order) + 1)
    good = np.flatnonzero(running >= 0.95)
    threshold = float(conf_cal.max(1)[order][good.max()]) if len(good) else 1.0
    proba = model.predict_proba(X[te])
    ok = proba.argmax(1) == y[te]
    kinds = meta["case_kind"].to_numpy()[te]
    old = ~np.isin(kinds, list(crm.NEW_KINDS))
    above = proba.max(1) >= threshold
    base_pred = df["error_code"][te].map(base).fillna(fallback).to_numpy().astype(int)
    out.update(
        {
            "lgbm_fit_s": fit_s,
            "lgbm_accuracy_unruled_test": float(ok.mean()),
            "lgbm_accuracy_unruled_test_old_kinds": float(ok[old].mean()),
            "baseline_majority_by_error_code_accuracy": float((base_pred == y[te]).mean()),
            "threshold_for_95pct_on_calibration_month": threshold,
            "coverage_above_threshold_calibration": float((conf_cal.max(1) >= threshold).mean()),
            "coverage_above_threshold_test_old_kinds": float(above[old].mean()),
            "precision_above_threshold_test_old_kinds": float(ok[old & above].mean()),
            "accuracy_on_ambiguous_test": float(ok[meta["ambiguous"].to_numpy()[te]].mean()),
            "accuracy_on_new_kinds_test": {
                k: float(ok[kinds == k].mean()) for k in crm.NEW_KINDS if (kinds == k).any()
            },
        }
    )
    return out


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    n = 200_000 if quick else 1_000_000
    domain = load_domain(CRM)
    df, gen_s = timed(lambda: crm.generate(n))
    _, floor_s = timed(lambda: _floor(n, 0))
    coerced, coerce_s = timed(lambda: coerce_frame(domain, df))
    _, copy_s = timed(lambda: df.copy())
    rows = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in df.head(200).to_dict("records")
    ]
    it = iter(range(10**9))
    per_record = percentiles_us(lambda: coerce_record(domain, rows[next(it) % 200]), 20_000)
    it2 = iter(range(10**9))
    per_copy = percentiles_us(lambda: dict(rows[next(it2) % 200]), 20_000)
    del coerced
    learn = learnability(domain)
    result = {
        "records": n,
        "generate_s": gen_s,
        "generate_floor_s": floor_s,
        "generate_vs_floor": gen_s / floor_s,
        "coerce_frame_s": coerce_s,
        "coerce_frame_vs_copy": coerce_s / copy_s,
        "coerce_record_us": per_record,
        "coerce_record_vs_dict_copy_p50": per_record["p50_us"] / per_copy["p50_us"],
        "peak_rss_mb": peak_rss_mb(),
        "learnability": learn,
    }
    print(
        f"generate {n:,} records: {gen_s:.2f}s (random-columns floor {floor_s:.2f}s, "
        f"×{gen_s / floor_s:.1f})"
    )
    print(f"coerce_frame: {coerce_s:.2f}s (×{coerce_s / copy_s:.1f} a copy)")
    print(
        f"coerce_record: p50 {per_record['p50_us']:.1f} µs, p99 {per_record['p99_us']:.1f} µs "
        f"(×{result['coerce_record_vs_dict_copy_p50']:.0f} a dict copy)"
    )
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    for k, v in learn.items():
        print(f"  {k}: {v if isinstance(v, dict) else round(v, 4)}")
    write_result("crm_demo", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
