"""Batch decisions that never fail a whole file for one bad row, as a flat table. Pure: no IO.

`decide_chunk` runs `Policy.decide_frame` on a chunk; when the chunk is refused (a record that does
not fit the schema), it bisects: halves are decided separately until the offending rows are
isolated, so a chunk with b bad rows costs O(b · log n) extra calls and every good row still gets
its normal decision. A bad row becomes `outcome=deferred, defer_reason=invalid` with the refusal in
the `error` column.

`decision_table` flattens decisions for files, JSON and Spark: `candidates` becomes a JSON string
(`[{"resolution": ..., "probability": ...}]`), confidence and threshold floats, the rest strings or
None. The MLflow pyfunc returns exactly this table (without `error`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.decision import DECISION_COLUMNS

ERROR_COLUMN = "error"
FLOAT_COLUMNS = ("confidence", "threshold")
OUTPUT_COLUMNS = (*DECISION_COLUMNS, ERROR_COLUMN)
REFUSALS: tuple[type[BaseException], ...] = (ValueError, TypeError, KeyError)
MAX_INVALID_PER_CHUNK = 1_000


class TooManyInvalid(ValueError):
    """So many rows are refused that the file, not a few records, is wrong."""


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def candidates_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    items = []
    for c in value if value is not None and not _missing(value) else ():
        if isinstance(c, Mapping):
            items.append(
                {"resolution": str(c["resolution"]), "probability": float(c["probability"])}
            )
        else:
            items.append({"resolution": str(c.resolution), "probability": float(c.probability)})
    return json.dumps(items, separators=(",", ":"))


def decision_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """A flat, JSON- and Spark-friendly decision table (see the module doc)."""
    out = pd.DataFrame(index=range(len(decisions)))
    for col in DECISION_COLUMNS:
        values = decisions[col].tolist() if col in decisions else [None] * len(decisions)
        if col == "candidates":
            out[col] = pd.Series([candidates_json(v) for v in values], dtype=object)
        elif col in FLOAT_COLUMNS:
            out[col] = pd.Series(
                [None if _missing(v) else float(v) for v in values], dtype="float64"
            )
        else:
            out[col] = pd.Series([None if _missing(v) else str(v) for v in values], dtype=object)
    return out


def parse_now(now: Any) -> datetime | None:
    """`now` as an aware datetime (ISO strings accepted, 'Z' included), or None."""
    if now is None or isinstance(now, datetime):
        return now
    t = datetime.fromisoformat(str(now).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _stamp(now: datetime | None) -> str:
    t = now or datetime.now(UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invalid_row(rid: Any, error: str, version: str, now: datetime | None) -> dict[str, Any]:
    """The decision for a record refused by the schema: deferred, reason `invalid`, and why."""
    return {
        "record_id": None if _missing(rid) else str(rid),
        "outcome": "deferred",
        "resolution": None,
        "source": None,
        "rule_id": None,
        "confidence": None,
        "threshold": None,
        "defer_reason": "invalid",
        "candidates": [],
        "policy_version": version,
        "decided_at": _stamp(now),
        ERROR_COLUMN: error,
    }


def _invalid(row: pd.DataFrame, id_col: str, error: str, version: str, now) -> pd.DataFrame:
    rid = row[id_col].iloc[0] if id_col in row.columns else None
    return pd.DataFrame([{**invalid_row(rid, error, version, now), "candidates": "[]"}])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def decide_chunk(
    policy: Any, df: pd.DataFrame, *, now: Any = None, max_invalid: int = MAX_INVALID_PER_CHUNK
) -> pd.DataFrame:
    """Decide every row of `df`: one output row per input row, same order, bad rows isolated.

    More than `max_invalid` refused rows in one chunk raise `TooManyInvalid` (with the first
    refusal): then the file, not a few records, is wrong, and bisecting on would only cost time.
    """
    now = parse_now(now)
    invalid = 0
    id_col = policy.domain.id
    version = str(getattr(policy, "version", ""))
    parts: list[pd.DataFrame] = []

    def run(part: pd.DataFrame) -> None:
        if len(part) == 0:
            return
        try:
            table = decision_table(policy.decide_frame(part.reset_index(drop=True), now=now))
            table[ERROR_COLUMN] = None
            parts.append(table)
        except REFUSALS as exc:
            if len(part) == 1:
                nonlocal invalid
                invalid += 1
                if invalid > max_invalid:
                    raise TooManyInvalid(
                        f"more than {max_invalid} rows of one chunk refused; the first: "
                        f"{_first_line(exc)}"
                    ) from exc
                parts.append(_invalid(part, id_col, _first_line(exc), version, now))
                return
            mid = len(part) // 2
            run(part.iloc[:mid])
            run(part.iloc[mid:])

    if id_col in df.columns:
        ids = df[id_col]
        no_id = (ids.isna() | ids.astype(str).str.strip().eq("")).to_numpy()
    else:
        no_id = np.ones(len(df), dtype=bool)
    run(df.iloc[np.flatnonzero(~no_id)] if no_id.any() else df)
    decided = (
        pd.concat(parts, ignore_index=True)[list(OUTPUT_COLUMNS)]
        if parts
        else pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
    )
    if not no_id.any():
        decided[ERROR_COLUMN] = decided[ERROR_COLUMN].astype(object)
        return decided
    refused = _invalid(
        pd.DataFrame({id_col: [None]}),
        id_col,
        f"the record has no '{id_col}'; every record needs an id.",
        version,
        now,
    )[list(OUTPUT_COLUMNS)]
    out = pd.DataFrame(index=range(len(df)), columns=list(OUTPUT_COLUMNS), dtype=object)
    out.iloc[np.flatnonzero(~no_id)] = decided.to_numpy(dtype=object)
    out.iloc[np.flatnonzero(no_id)] = np.repeat(
        refused.to_numpy(dtype=object), int(no_id.sum()), axis=0
    )
    for col in FLOAT_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out
