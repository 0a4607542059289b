"""The same data, seed and package versions give the same policy on any core count.

Each training runs in its own process with OMP_NUM_THREADS = 1 or 2 (OpenBLAS and OpenMP read it
at start-up). The synthetic domain is wide on purpose — 40 classes and two categorical fields of
hundreds of values — so the linear model's coefficient vector is long enough for OpenBLAS to split
its vector sums across threads, which changed the fitted weights before training pinned them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

from tests.support import ROOT

WIDE = {
    "name": "wide",
    "id": "rid",
    "label": "res",
    "time": "ts",
    "resolutions": [f"r{k:02d}" for k in range(40)],
    "fields": {"a": "category", "b": "category", "x": "number", "y": "number"},
    "policy": {"target_precision": 0.9, "confidence": 0.9},
}


def _wide_frame(n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 400, n)
    b = rng.integers(0, 250, n)
    x = rng.normal(size=n)
    k = (a // 10 + (x > 0) * 3) % 40
    noise = rng.random(n) < 0.15
    k = np.where(noise, rng.integers(0, 40, n), k)
    return pd.DataFrame(
        {
            "rid": [f"w{i}" for i in range(n)],
            "res": [f"r{v:02d}" for v in k],
            "ts": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "min"),
            "a": [f"a{v}" for v in a],
            "b": [f"b{v}" for v in b],
            "x": x,
            "y": rng.normal(size=n),
        }
    )


def fingerprint_of_training() -> dict:
    """Certificate and probability digests of two trainings (default families, linear alone)."""
    from autoresolve.model.domain import parse_domain
    from autoresolve.model.train import train_policy

    domain, df = parse_domain(WIDE), _wide_frame()
    out = {}
    for families in (("lightgbm", "linear"), ("linear",)):
        policy, report = train_policy(domain, df, seed=0, families=families)
        cert = report.certificate
        P = policy.predict_proba_frame(df.iloc[-1500:]).to_numpy()
        out["+".join(families)] = {
            "chosen": report.chosen,
            "threshold": cert["threshold"],
            "n_calibration": cert["n_calibration"],
            "accepted": cert["accepted"],
            "error_upper_bound": cert["error_upper_bound"],
            "p_values": cert.get("p_values"),
            "temperatures": {f: c["temperature"] for f, c in report.candidates.items()},
            "proba_sha256": hashlib.sha256(P.tobytes()).hexdigest(),
        }
    return out


def _train_with_threads(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = str(threads)
    code = (
        "import json; from tests.model.test_reproducible import fingerprint_of_training; "
        "print(json.dumps(fingerprint_of_training()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_and_two_threads_train_the_same_policy() -> None:
    one, two = _train_with_threads(1), _train_with_threads(2)
    assert one["linear"]["proba_sha256"] == two["linear"]["proba_sha256"]
    assert one == two
