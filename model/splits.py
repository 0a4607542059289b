"""Splits: the test slice is always the newest records; the model learns from recent labels too.

Slices (by the domain's time field when it has one, else in the given order):

- **test** — the newest records, `size_of_test_slice(n)` of them (15% of a small table, capped at
  max(500, 3%) so a large history does not keep months of recent labels out of training).
  Reported quality only; never used to choose anything.
- **calib** (temperature scaling, the candidate thresholds and their test order), **cert** (the
  certificate) and **valid** (early stopping, the novelty detector's reference): disjoint random
  samples, by seed, of the *recent pool* — the newest `RECENT_POOL` share of the records before
  the test slice.
- **fit** — everything else: the older records and the rest of the recent pool.

Why not fit → calib → cert → test strictly in time order (as this module did before): a new kind
of case then reaches the fitted model only after its labels have aged past all the held-out
slices — months of a deployment's labels. Measured on the CRM replay (docs/autonomy.md), the
strict order kept both late-arriving kinds deferred 100% of the time for the rest of the year.
Drawing calib/cert from the recent pool keeps them out of training and disjoint from each other,
so the Learn-then-Test certificate is valid for the recent pool's distribution (exchangeable
samples of it); what it no longer proves by construction is robustness to drift *after* that
pool — which the test slice (reported) and the retrain gates' recent window (a challenger
significantly below the target there is refused) check on newer records.

`mode="time"` keeps the strict order fit → valid → calib → cert → test (same sizes, test still
capped) for a domain where a certificate must be proven on records later than the fit; the
CRM replay measures what that costs (docs/autonomy.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain

# Shares of the records before the test slice. calib, cert and valid come from the recent pool.
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


SPLIT_MODES = ("recent_pool", "time")


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
        return {
            "fit": np.arange(0, end),
            "valid": strict["valid"],
            "calib": strict["calib"],
            "cert": strict["cert"],
            "test": np.arange(m, n),
        }
    pool_n = max(math.ceil(RECENT_POOL * m), sum(sizes.values()))
    pool_n = min(pool_n, m)
    pool = np.arange(m - pool_n, m)
    drawn = np.random.default_rng(seed).permutation(pool)
    parts: dict[str, np.ndarray] = {}
    at = 0
    for name in ("valid", "calib", "cert"):
        parts[name] = np.sort(drawn[at : at + sizes[name]])
        at += sizes[name]
    taken = np.zeros(m, dtype=bool)
    for name in ("valid", "calib", "cert"):
        taken[parts[name]] = True
    out = {"fit": np.flatnonzero(~taken)}
    out.update(parts)
    out["test"] = np.arange(m, n)
    return out


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
