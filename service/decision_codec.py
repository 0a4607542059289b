"""A decision's two shapes outside the process: its JSON and its decision-log row.

The JSON is DecisionOut's (service/schemas.py): what `POST /v1/resolve` answers, each item of the
batch answer, and what the store's readers return. The row is what the decision log holds: the
same fields plus the domain, the record and the queue priority. Every path goes through here: a
`Decision` from the policy, a row of `Policy.decide_frame` (NaN, numpy scalars) and a row read
back from the store (a datetime, candidates from a JSON column) all become the same JSON, and
the store writes only rows made by `log_row`, so what is answered and what is logged cannot drift.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from autoresolve.model.decision import SERVED_COLUMNS, Decision
from autoresolve.model.policy import iso_utc
from autoresolve.model.queue_priority import label_priority


def decision_json(decision: Decision | Mapping[str, Any]) -> dict[str, Any]:
    """DecisionOut's JSON shape (plain values, finite floats) of any decision."""
    if isinstance(decision, Decision):  # the hot path: no dataclasses.asdict deep copy
        return {
            "record_id": str(decision.record_id),
            "outcome": decision.outcome,
            "resolution": decision.resolution,
            "source": decision.source,
            "rule_id": decision.rule_id,
            "confidence": _finite(decision.confidence),
            "threshold": _finite(decision.threshold),
            "defer_reason": decision.defer_reason,
            "candidates": [
                {"resolution": c.resolution, "probability": float(c.probability)}
                for c in decision.candidates
            ],
            "policy_version": str(decision.policy_version or ""),
            "decided_at": _iso(decision.decided_at),
            "audit": bool(decision.audit),
            "guard_reason": decision.guard_reason,
        }
    d = decision
    return {
        "record_id": str(d["record_id"]),
        "outcome": str(d["outcome"]),
        "resolution": _text(d.get("resolution")),
        "source": _text(d.get("source")),
        "rule_id": _text(d.get("rule_id")),
        "confidence": _finite(d.get("confidence")),
        "threshold": _finite(d.get("threshold")),
        "defer_reason": _text(d.get("defer_reason")),
        "candidates": _candidates(d.get("candidates")),
        "policy_version": str(d.get("policy_version") or ""),
        "decided_at": _iso(d.get("decided_at")),
        "audit": _flag(d.get("audit")),
        "guard_reason": _text(d.get("guard_reason")),
    }


def log_row(domain: str, out: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The decisions-table row of a decision already in JSON shape (`decision_json`).

    `record` must be plain JSON already (validated HTTP input, or `jsonable` of a table row); the
    time becomes a datetime, so the database driver stores it in the column's own format.
    """
    row = {c: out[c] for c in SERVED_COLUMNS}
    row["domain"] = domain
    row["decided_at"] = as_datetime(out["decided_at"])
    row["record"] = record
    deferred = out["outcome"] == "deferred"
    row["priority"] = label_priority(out["defer_reason"], out["candidates"]) if deferred else None
    return row


def jsonable(value: Any) -> Any:
    """Plain JSON from what records, frames and policy descriptions carry: timestamps, numpy
    scalars, NaN (→ null), tuples and sets (→ lists); anything else unknown becomes its text."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def as_datetime(value: Any) -> datetime:
    """A timezone-aware UTC datetime from ISO text (with 'Z'), a datetime or a pandas Timestamp;
    naive values are taken as UTC, a missing one is now."""
    if value is None or value == "":
        return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return as_datetime(datetime.fromisoformat(value))
        except ValueError:
            pass
    ts = pd.Timestamp(value)
    return (ts if ts.tzinfo else ts.tz_localize("UTC")).to_pydatetime()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    return "" if value is None else str(value)


def _candidates(value: Any) -> list[dict[str, Any]]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        value = json.loads(value) if value else []
    out = []
    for c in value:
        if isinstance(c, Mapping):
            out.append({"resolution": str(c["resolution"]), "probability": float(c["probability"])})
        else:
            out.append({"resolution": str(c.resolution), "probability": float(c.probability)})
    return out


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _flag(value: Any) -> bool:
    """A stored or tabled flag: missing (a certified policy's table, an old row) is False."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
