"""scikit-learn's tools against ours, and joblib where work splits into independent pieces.

Every figure is a ratio against a baseline measured in the same run, on the CRM demo:

- temperature: our `TemperatureScaler` against scikit-learn's
  `CalibratedClassifierCV(FrozenEstimator(model), method="temperature")` on the same calibration
  records: the two temperatures, and one record's calibrated probabilities (model + calibration)
  through each, p50/p99 µs.
- joblib, on two workers against one, each candidate kept only where it helps:
  - tuning: `tune_lightgbm` (GridSearchCV, 4 candidates × 3 folds) with n_jobs=2 vs 1;
  - per-class certification: `certify_per_class`'s classes certified in parallel vs its loop;
  - chunked batch scoring: `decide_frame` on chunks in two processes / two threads vs one call
    (and vs LightGBM's own two threads, `Policy.batch_threads = 2`).

`python -m benchmarks sklearn [--quick]` (--quick: smaller tuning and batch sizes).
"""

from __future__ import annotations

import copy
import os
import sys
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from autoresolve.model.calibration import TemperatureScaler
from autoresolve.model.certify import candidate_grid, certify_per_class, certify_threshold
from autoresolve.model.datasets import load_domain_frame, sort_by_time
from autoresolve.model.domain import load_domain
from autoresolve.model.records import coerce_frame
from autoresolve.model.train import train_policy
from autoresolve.model.tuning import tune_lightgbm
from benchmarks.common import percentiles_us, timed, write_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def temperature(policy: Any, df: pd.DataFrame) -> dict[str, Any]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    est, pipe = policy.estimator, policy.pipeline
    cal = df.iloc[-6000:]
    X = pipe.transform(cal)
    index = {c: i for i, c in enumerate(policy.classes)}
    keep = cal[policy.domain.label].astype(str).map(index).notna().to_numpy()
    X, y = X[keep], cal[policy.domain.label].astype(str).map(index).to_numpy()[keep].astype(int)
    ours = TemperatureScaler().fit(est.predict_proba(X), y)
    theirs = CalibratedClassifierCV(FrozenEstimator(est), method="temperature").fit(X, y)
    beta = float(theirs.calibrated_classifiers_[0].calibrators[0].beta_)
    rows = [X[i] for i in range(200)]
    it = iter(range(10**9))

    def ours_one() -> None:
        row = rows[next(it) % len(rows)]
        ours.apply(est.predict_row(row).reshape(1, -1))

    def theirs_one() -> None:
        theirs.predict_proba(rows[next(it) % len(rows)].reshape(1, -1))

    o, t = percentiles_us(ours_one, 3000), percentiles_us(theirs_one, 1000)
    return {
        "temperature_ours": ours.temperature_,
        "temperature_sklearn": 1.0 / beta,
        "relative_difference": abs(ours.temperature_ * beta - 1.0),
        "one_record_ours_us": o,
        "one_record_sklearn_us": t,
        "sklearn_over_ours_p50": t["p50_us"] / o["p50_us"],
    }


def tuning(domain: Any, df: pd.DataFrame, rows: int) -> dict[str, Any]:
    sample = df.iloc[-rows:]
    one, s1 = timed(lambda: tune_lightgbm(domain, sample, budget=4, n_jobs=1))
    two, s2 = timed(lambda: tune_lightgbm(domain, sample, budget=4, n_jobs=2))
    assert one.table["mean_certified_coverage"].tolist() == (
        two.table["mean_certified_coverage"].tolist()
    )
    return {"rows": rows, "seconds_1": s1, "seconds_2": s2, "speedup": s1 / s2}


def per_class(policy: Any, df: pd.DataFrame) -> dict[str, Any]:
    X = policy.pipeline.transform(df)
    P = policy._proba(X)
    index = {c: i for i, c in enumerate(policy.classes)}
    truth = df[policy.domain.label].astype(str).map(index).fillna(-1).to_numpy(dtype=int)
    top, pred = P.max(axis=1), P.argmax(axis=1)
    cut = len(top) // 2
    learn = (top[:cut], pred[:cut], truth[:cut])
    args = (top[cut:], pred[cut:], truth[cut:], policy.classes)
    kw = {"target_precision": 0.95, "confidence": 0.9, "learn": learn}
    serial, s1 = timed(lambda: certify_per_class(*args, **kw))

    def one_class(c: int) -> dict[str, Any]:
        m, ml = pred[cut:] == c, learn[1] == c
        grid = candidate_grid(learn[0][ml], int(m.sum()), min_accepted=10, size=20)
        return certify_threshold(
            top[cut:][m],
            (truth[cut:][m] == c).astype(int),
            target_precision=0.95,
            confidence=0.9,
            candidates=grid,
            learn=(learn[0][ml], (learn[2][ml] == c).astype(int)),
        )

    eligible = [c for c in range(len(policy.classes)) if (pred[cut:] == c).sum() >= 20]
    _, s2 = timed(lambda: Parallel(n_jobs=2)(delayed(one_class)(c) for c in eligible))
    return {
        "records": len(top),
        "classes": len(eligible),
        "seconds_loop": s1,
        "seconds_joblib_2": s2,
        "speedup": s1 / s2,
        "accepted": serial["accepted"],
    }


def batch(policy: Any, n: int) -> dict[str, Any]:
    from autoresolve.model.generators.crm import generate

    big = generate(n=n, seed=7).drop(columns=[policy.domain.label])
    out, s1 = timed(lambda: policy.decide_frame(big))
    two = copy.copy(policy)
    two.batch_threads = 2
    _, s_lgb = timed(lambda: two.decide_frame(big))
    halves = np.array_split(np.arange(n), 2)

    def chunks(backend: str) -> pd.DataFrame:
        parts = Parallel(n_jobs=2, backend=backend)(
            delayed(policy.decide_frame)(big.iloc[h]) for h in halves
        )
        return pd.concat(parts, ignore_index=True)

    procs, s_proc = timed(lambda: chunks("loky"))
    _, s_thr = timed(lambda: chunks("threading"))
    same = procs.drop(columns="decided_at").equals(out.drop(columns="decided_at"))
    return {
        "records": n,
        "records_per_s_1": n / s1,
        "speedup_lightgbm_2_threads": s1 / s_lgb,
        "speedup_joblib_2_processes": s1 / s_proc,
        "speedup_joblib_2_threads": s1 / s_thr,
        "processes_same_decisions": bool(same),
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    domain = load_domain(os.path.join(ROOT, "data", "crm"))
    df = sort_by_time(domain, coerce_frame(domain, load_domain_frame(domain)))
    df = df.reset_index(drop=True)
    t0 = time.perf_counter()
    policy, _ = train_policy(domain, df, seed=0)
    print(f"trained in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    results = {
        "temperature": temperature(policy, df),
        "per_class_certification": per_class(policy, df.iloc[-20000:]),
        "batch_scoring": batch(policy, 100_000 if quick else 400_000),
        "tuning": tuning(domain, df, 8000 if quick else 20000),
    }
    for name, r in results.items():
        print(f"[{name}] " + ", ".join(f"{k}={v}" for k, v in r.items()))
    t, j = results["temperature"], results
    print(
        f"\nsummary\n  temperature ours {t['temperature_ours']:.4f} vs scikit-learn "
        f"{t['temperature_sklearn']:.4f} (rel. diff {t['relative_difference']:.1e}); one record "
        f"p50 ours {t['one_record_ours_us']['p50_us']:.0f} µs vs scikit-learn "
        f"{t['one_record_sklearn_us']['p50_us']:.0f} µs ({t['sklearn_over_ours_p50']:.1f}×)\n"
        f"  joblib ×2 speed-ups: tuning {j['tuning']['speedup']:.2f}, per-class certification "
        f"{j['per_class_certification']['speedup']:.2f}, batch scoring processes "
        f"{j['batch_scoring']['speedup_joblib_2_processes']:.2f} / threads "
        f"{j['batch_scoring']['speedup_joblib_2_threads']:.2f} (LightGBM's own 2 threads "
        f"{j['batch_scoring']['speedup_lightgbm_2_threads']:.2f})"
    )
    print(f"wrote {write_result('sklearn', {'quick': quick, **results})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
