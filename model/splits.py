"""Splits: the test slice is always the newest records; the model learns from recent labels too.

Slices (by the domain's time field when it has one, else in the given order), `mode="recent_pool"`
(the default):

- **test** — the newest records, `size_of_test_slice(n)` of them (15% of a small table, capped at
  max(500, 3%) so a large history does not keep months of recent labels out of training).
  Reported quality only; never used to choose anything.
- **calib** (temperature scaling, the candidate thresholds and their test order), **cert** (the
  certificate) and **valid** (early stopping, the novelty detector's reference): disjoint random
  samples, by seed, of the *recent pool* — the newest `RECENT_POOL` share of the records before
  the test slice.
- **fit** — everything else: the older records and the rest of the recent pool.

The certificate is then valid for the recent pool's distribution (exchangeable samples of it),
not by construction for what comes after it. `mode="forward"` makes the certification slice the
newest records before the test slice, strictly after everything fitted (calib and valid random
samples of the recent pool before it); `mode="time"` orders every slice: fit → valid → calib →
cert → test.

The default was chosen by measurement (`python -m benchmarks forward` and the `simulate` replay,
docs/quality.md): trained on the older part of each history and judged on the next period,
`forward` and `recent_pool` fell below the target equally often (9 of 107 and 9 of 109 periods
with model resolutions, point estimate); recent_pool had one period whose interval lay wholly
below the target, forward none — not a significant difference. forward paid for it with 7–8% of
the coverage in the benchmark and 2–3 points of the CRM replay's autonomy (5–7 at the end), and
it keeps the newest kind of case out of the fitted model until its labels age past the
certification window (the CRM's `consent_missing` stayed 100% deferred to the end of the replay,
against 21%). `time` lost 15% of the coverage and had 3 periods wholly below the target on
vinst. What the certificate cannot see, drift after its window, is the precision guard's job
(model/guard.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain

# Shares of the records before the test slice. calib, cert and valid come from the recent pool
# (forward mode: calib and valid; cert is the newest records before the test slice).
DEFAULT_FRACTIONS = {"fit": 0.66, "valid": 0.06, "calib": 0.10, "cert": 0.18}
RECENT_POOL = 0.70
TEST_FRACTION = 0.15
TEST_CAP_MIN = 500
TEST_CAP_FRACTION = 0.03


@dataclass(frozen=True)
class Splits:
    """Positional row indices into the frame, one array per slice (each in time order)."""

    order: np.ndarray
    parts: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.parts[name]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.parts.items()}


def time_positions(domain: Domain, df: pd.DataFrame) -> np.ndarray:
    """Row positions in time order (stable; rows without a parsable time last, in their order).

    Without a time field (or column) the given order is the time order."""
    if domain.time and domain.time in df.columns:
        t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed")
        key = t.to_numpy(dtype="datetime64[ns]")
        return np.argsort(key, kind="stable")
    return np.arange(len(df))


def size_of_test_slice(n: int) -> int:
    """Newest rows held out as the test slice: 15%, at most max(500, 3%)."""
    cap = max(TEST_CAP_MIN, math.ceil(TEST_CAP_FRACTION * n))
    return min(round(TEST_FRACTION * n), cap)


SPLIT_MODES = ("recent_pool", "forward", "time")


def _draw_from_recent_pool(
    end: int, sizes: dict[str, int], names: tuple[str, ...], seed: int
) -> dict[str, np.ndarray]:
    """Disjoint random samples (sorted) of the newest RECENT_POOL share of positions [0, end),
    one per name; "fit" gets every position before `end` that no sample took."""
    pool_n = max(math.ceil(RECENT_POOL * end), sum(sizes[k] for k in names))
    pool_n = min(pool_n, end)
    drawn = np.random.default_rng(seed).permutation(np.arange(end - pool_n, end))
    parts: dict[str, np.ndarray] = {}
    at = 0
    taken = np.zeros(end, dtype=bool)
    for name in names:
        parts[name] = np.sort(drawn[at : at + sizes[name]])
        taken[parts[name]] = True
        at += sizes[name]
    return {"fit": np.flatnonzero(~taken), **parts}


def split_positions(
    n: int, fractions: dict[str, float] | None = None, *, seed: int = 0, mode: str = "recent_pool"
) -> dict[str, np.ndarray]:
    """Positions (into the time order) of each slice; see the module doc."""
    if mode not in SPLIT_MODES:
        raise ValueError(f"split mode must be one of {', '.join(SPLIT_MODES)}; got {mode!r}.")
    fr = dict(fractions or DEFAULT_FRACTIONS)
    n_test = size_of_test_slice(n)
    m = n - n_test
    total = sum(fr.values())
    sizes = {k: round(fr.get(k, 0.0) / total * m) for k in ("valid", "calib", "cert")}
    if mode == "time":
        end = m
        strict: dict[str, np.ndarray] = {}
        for name in ("cert", "calib", "valid"):
            strict[name] = np.arange(max(end - sizes[name], 0), end)
            end = max(end - sizes[name], 0)
        out = {"fit": np.arange(0, end), **strict}
    elif mode == "forward":
        before_cert = max(m - sizes["cert"], 0)
        out = _draw_from_recent_pool(before_cert, sizes, ("valid", "calib"), seed)
        out["cert"] = np.arange(before_cert, m)
    else:
        out = _draw_from_recent_pool(m, sizes, ("valid", "calib", "cert"), seed)
    out["test"] = np.arange(m, n)
    return {k: out[k] for k in ("fit", "valid", "calib", "cert", "test")}


def time_splits(
    domain: Domain,
    df: pd.DataFrame,
    fractions: dict[str, float] | None = None,
    *,
    seed: int = 0,
    mode: str = "recent_pool",
) -> Splits:
    order = time_positions(domain, df)
    pos = split_positions(len(order), fractions, seed=seed, mode=mode)
    return Splits(order=order, parts={k: order[p] for k, p in pos.items()})


def time_range(domain: Domain, df: pd.DataFrame) -> tuple[str | None, str | None]:
    if not domain.time or domain.time not in df.columns or len(df) == 0:
        return None, None
    t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed").dropna()
    if t.empty:
        return None, None
    return t.min().isoformat(), t.max().isoformat()
