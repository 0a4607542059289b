"""The precision guard's statistics on simulated audit streams: false alarms and detection delay.

Streams of audited outcomes (right with probability p) are simulated vectorised, seeded, and the
guard's drop test (model/guard.py) is looked at after every label. Reported, per target and α:

- false-alarm rate with precision exactly at the target for 3,000 labels (must be ≤ α);
- labels until a drop to target − 0.05 and − 0.10 is flagged (median and 90th percentile), from
  the start and after 1,000 labels at target + 0.02;
- labels until recovery once precision is back at target + 0.04 after 300 labels at − 0.10.

Baselines in the same run, on the same streams:
- naive — a one-sided exact binomial test of "precision ≥ target" at level α repeated after
  every label (a fixed-sample test looked at continuously: its false alarms are not bounded by α);
- constant — the average of five constant-bet e-processes, each the Kelly bet for one drop size
  (1.25 to 20 points): wealth is a function of the counts only, so it could be merged across
  workers without an order; valid, but its wealth shrinks in good stretches, so a later drop
  takes longer to find.

`python -m benchmarks guard [--quick]` (--quick: fewer streams).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import binom

from autoresolve.model.guard import run_streams
from benchmarks.common import write_result

CASES = [(0.95, 0.10), (0.95, 0.05), (0.90, 0.10), (0.99, 0.10)]
KELLY_FOR_DROPS = np.array([0.0125, 0.025, 0.05, 0.1, 0.2])  # the constant mixture's bets


def _streams(seed: int, n: int, *phases: tuple[float, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random((n, k)) < min(p, 1.0) for p, k in phases], axis=1)


def _first(hit: np.ndarray) -> np.ndarray:
    """1-based index of the first True per row, 0 when none."""
    any_hit = hit.any(axis=1)
    return np.where(any_hit, hit.argmax(axis=1) + 1, 0)


def naive_first_alarm(x: np.ndarray, target: float, alpha: float) -> np.ndarray:
    right = np.cumsum(x, axis=1)
    n = np.arange(1, x.shape[1] + 1)
    return _first(binom.cdf(right, n, target) <= alpha)


def constant_first_alarm(x: np.ndarray, target: float, alpha: float) -> np.ndarray:
    right = np.cumsum(x, axis=1, dtype=np.float64)
    wrong = np.arange(1, x.shape[1] + 1) - right
    lams = np.minimum(KELLY_FOR_DROPS / (target * (1 - target)), 0.5 / (1 - target))
    logs = [right * np.log1p(-lam * (1 - target)) + wrong * np.log1p(lam * target) for lam in lams]
    log_mix = np.logaddexp.reduce(np.stack(logs), axis=0) - np.log(len(lams))
    return _first(log_mix >= np.log(1 / alpha))


def _delay(first: np.ndarray, start: int) -> dict[str, float]:
    d = np.where(first > start, first - start, np.inf)
    return {
        "median": float(np.median(d)),
        "p90": float(np.percentile(d, 90)),
        "found": float(np.isfinite(d).mean()),
    }


def run_case(target: float, alpha: float, n: int, seed: int) -> dict:
    null = _streams(seed, n, (target, 3000))
    out: dict = {"target": target, "alpha": alpha, "streams": n}
    out["false_alarm"] = {
        "guard": float((run_streams(null, target, alpha)["first_alarm"] > 0).mean()),
        "naive": float((naive_first_alarm(null, target, alpha) > 0).mean()),
        "constant": float((constant_first_alarm(null, target, alpha) > 0).mean()),
    }
    for drop in (0.05, 0.10):
        for good in (0, 1000):
            phases = [(target + 0.02, good)] if good else []
            x = _streams(seed + 1, n, *phases, (target - drop, 2000))
            out[f"drop_{drop:.2f}_after_{good}"] = {
                "guard": _delay(run_streams(x, target, alpha)["first_alarm"], good),
                "constant": _delay(constant_first_alarm(x, target, alpha), good),
            }
    back = _streams(seed + 2, n, (target - 0.10, 300), (target + 0.04, 2000))
    out["recovery"] = _delay(run_streams(back, target, alpha)["first_recovery"], 300)
    return out


def main(argv: list[str]) -> int:
    n = 500 if "--quick" in argv else 4000
    t0 = time.perf_counter()
    cases = [run_case(t, a, n, seed=10 * i) for i, (t, a) in enumerate(CASES)]
    print(
        f"{n} streams per case, a look after every label ({time.perf_counter() - t0:.1f}s)\n\n"
        "| target | α | false alarms: guard / naive / constant | drop −0.05: guard median "
        "(p90) | after 1,000 good: guard / constant median | drop −0.10 guard | recovery |"
    )
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        fa = c["false_alarm"]
        d5, d5g = c["drop_0.05_after_0"], c["drop_0.05_after_1000"]
        d10 = c["drop_0.10_after_0"]
        print(
            f"| {c['target']:g} | {c['alpha']:g} | {fa['guard']:.3f} / {fa['naive']:.3f} / "
            f"{fa['constant']:.3f} | {d5['guard']['median']:.0f} ({d5['guard']['p90']:.0f}) | "
            f"{d5g['guard']['median']:.0f} / {d5g['constant']['median']:.0f} | "
            f"{d10['guard']['median']:.0f} ({d10['guard']['p90']:.0f}) | "
            f"{c['recovery']['median']:.0f} ({c['recovery']['p90']:.0f}) |"
        )
    path = write_result("guard", {"cases": cases})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
