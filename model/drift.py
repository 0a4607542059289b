"""Field drift: the population stability index (PSI) between training data and recent traffic.

Pure functions over DataFrames and JSON-able summaries, so the training data never has to be kept:
`summarize` stores, per field, the bins and their shares at training time (logged with the policy);
`drift` compares recent records against it. Used by `retrain --if-needed` and the report.

Binning: numbers by the training deciles (plus a bin for missing), booleans as true / false /
missing, categories as the `top` most frequent training values plus "other" and "missing" (so a
flood of values never seen in training shows up as growth of "other"). Text and datetime fields
are not summarised: free text needs its own treatment and time always drifts.

PSI = Σ (a − e) · ln(a / e) over bins, shares floored at `EPS`. Conventional reading: < 0.1 stable,
0.1–0.2 moderate, > 0.2 a real shift (the default bar, `PSI_BAR`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

PSI_BAR = 0.2
EPS = 1e-4
OTHER = "__other__"
MISSING = "__missing__"
SUMMARY_KINDS = ("number", "boolean", "category")


def psi(expected: np.ndarray | list[float], actual: np.ndarray | list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=np.float64), EPS, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _number_bins(values: pd.Series, bins: int) -> list[float]:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(v) == 0:
        return []
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(x) for x in edges]


def _number_shares(values: pd.Series, edges: list[float]) -> list[float]:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    n = max(len(v), 1)
    missing = np.isnan(v)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), v[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return [*(counts / n).tolist(), float(missing.sum()) / n]


def _boolean_shares(values: pd.Series) -> list[float]:
    n = max(len(values), 1)
    missing = values.isna()
    v = values[~missing]
    truthy = v.astype(str).str.lower().isin(("true", "1", "1.0", "yes"))
    return [float(truthy.sum()) / n, float((~truthy).sum()) / n, float(missing.sum()) / n]


def _category_shares(values: pd.Series, levels: list[str]) -> list[float]:
    n = max(len(values), 1)
    missing = values.isna()
    v = values[~missing].astype(str)
    counts = v.value_counts()
    known = [float(counts.get(level, 0)) / n for level in levels]
    other = float(len(v) - sum(counts.get(level, 0) for level in levels)) / n
    return [*known, other, float(missing.sum()) / n]


def summarize(
    field_types: Mapping[str, str], df: pd.DataFrame, *, bins: int = 10, top: int = 30
) -> dict[str, Any]:
    """Per-field bins and shares of a table (JSON-able), the reference for later `drift`."""
    fields: dict[str, Any] = {}
    for name, kind in field_types.items():
        if kind not in SUMMARY_KINDS or name not in df.columns:
            continue
        col = df[name]
        if kind == "number":
            edges = _number_bins(col, bins)
            fields[name] = {"kind": kind, "edges": edges, "shares": _number_shares(col, edges)}
        elif kind == "boolean":
            fields[name] = {"kind": kind, "shares": _boolean_shares(col)}
        else:
            levels = [str(x) for x in col.dropna().astype(str).value_counts().index[:top]]
            fields[name] = {
                "kind": kind,
                "levels": levels,
                "shares": _category_shares(col, levels),
            }
    return {"records": len(df), "fields": fields}


def field_shares(spec: Mapping[str, Any], values: pd.Series) -> list[float]:
    kind = spec["kind"]
    if kind == "number":
        return _number_shares(values, list(spec["edges"]))
    if kind == "boolean":
        return _boolean_shares(values)
    return _category_shares(values, list(spec["levels"]))


def drift(
    summary: Mapping[str, Any], df: pd.DataFrame, *, min_records: int = 1
) -> dict[str, float]:
    """PSI per summarised field of `df` against a training `summary`; {} when too few records."""
    if len(df) < max(min_records, 1):
        return {}
    out: dict[str, float] = {}
    for name, spec in summary.get("fields", {}).items():
        values = df[name] if name in df.columns else pd.Series([None] * len(df), dtype=object)
        out[name] = psi(spec["shares"], field_shares(spec, values))
    return out


def drifted(scores: Mapping[str, float], bar: float = PSI_BAR) -> dict[str, float]:
    """The fields whose PSI exceeds the bar, largest first."""
    return dict(sorted(((k, v) for k, v in scores.items() if v > bar), key=lambda kv: -kv[1]))
