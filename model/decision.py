"""The decision record: one shape for HTTP responses, batch output files and the decision log."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["resolved", "deferred"]
Source = Literal["rule", "model"]

# Why a record was deferred. `rule`: a rule said `defer`; `novel`: unlike the training data;
# `low_confidence`: below the certified threshold; `no_model`: the model resolves nothing (no
# certified threshold exists); `invalid`: the record failed validation in a batch; `guard`: the
# certified policy would resolve it, but the precision guard (model/guard.py) has raised the
# threshold, suspended the model or quarantined the rule (`guard_reason` says which and why).
DEFER_REASONS = ("rule", "novel", "low_confidence", "no_model", "invalid", "guard")

DECISION_COLUMNS = (
    "record_id",
    "outcome",
    "resolution",
    "source",
    "rule_id",
    "confidence",
    "threshold",
    "defer_reason",
    "candidates",
    "policy_version",
    "decided_at",
)

# What serving adds to the certified policy's decision (model/serving.py): whether the decision is
# sampled for audit, and why the guard deferred it. HTTP answers and the decision log carry both.
SERVED_COLUMNS = (*DECISION_COLUMNS, "audit", "guard_reason")


@dataclass(frozen=True)
class Candidate:
    resolution: str
    probability: float


@dataclass(frozen=True)
class Decision:
    record_id: str
    outcome: Outcome
    resolution: str | None
    source: Source | None
    rule_id: str | None
    confidence: float | None
    threshold: float | None
    defer_reason: str | None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    policy_version: str = ""
    decided_at: str = ""
    audit: bool = False
    guard_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidates"] = [dict(c) for c in d["candidates"]]
        return d
