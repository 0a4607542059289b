"""Time-ordered splits: the model is always judged on records later than those it learned from.

Five consecutive slices (by the domain's time field when it has one, else in the given order):
fit (train the estimators), valid (early stopping, novelty reference; still the training period),
calib (temperature scaling, and the candidate grid for certification), cert (the certificate) and
test (reported quality only; never used to choose anything).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.domain import Domain

DEFAULT_FRACTIONS = {"fit": 0.50, "valid": 0.10, "calib": 0.10, "cert": 0.15, "test": 0.15}


@dataclass(frozen=True)
class Splits:
    """Positional row indices into the time-sorted frame, one array per slice."""

    order: np.ndarray
    parts: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.parts[name]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.parts.items()}


def time_order(domain: Domain, df: pd.DataFrame) -> np.ndarray:
    """Row positions sorted by time (stable; rows without a parsable time keep their place last)."""
    if domain.time and domain.time in df.columns:
        t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed")
        key = t.to_numpy(dtype="datetime64[ns]")
        return np.argsort(key, kind="stable")
    return np.arange(len(df))


def split_positions(n: int, fractions: dict[str, float] | None = None) -> dict[str, slice]:
    fr = fractions or DEFAULT_FRACTIONS
    total = sum(fr.values())
    bounds, acc = {}, 0.0
    start = 0
    names = list(fr)
    for i, name in enumerate(names):
        acc += fr[name] / total
        end = n if i == len(names) - 1 else round(acc * n)
        bounds[name] = slice(start, end)
        start = end
    return bounds


def time_splits(
    domain: Domain, df: pd.DataFrame, fractions: dict[str, float] | None = None
) -> Splits:
    order = time_order(domain, df)
    pos = split_positions(len(order), fractions)
    return Splits(order=order, parts={k: order[s] for k, s in pos.items()})


def time_range(domain: Domain, df: pd.DataFrame) -> tuple[str | None, str | None]:
    if not domain.time or domain.time not in df.columns or len(df) == 0:
        return None, None
    t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed").dropna()
    if t.empty:
        return None, None
    return t.min().isoformat(), t.max().isoformat()
