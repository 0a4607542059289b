"""What is served: the certified policy, its audit sample, and the precision guard's verdict.

The certified `Policy` says what it would decide; serving adds two things to each automatic
decision (a rule or the model resolves the record):

- `audit`: a seeded share of them is sampled for labelling (model/audit.py);
- the guard (model/guard.py): a model resolution under the threshold in effect, every model
  resolution while the model is suspended, and a quarantined rule's resolution become deferrals
  with reason `guard`, and `guard_reason` says which evidence moved it.

A guard-deferred decision keeps its `source` (and `rule_id`, confidence and candidates): it is
still the record the certified policy would resolve, so its audit label is evidence for the
stream that deferred it — how the guard recovers by evidence, never by a timer. What the verdict
holds and why is model/guard_policy.py's (`GuardView`, `apply_verdict`), the one implementation
the replay (model/simulate.py) runs too.

Pure: the service builds a `ServedPolicy` from the policy and the guard state it read from the
store, and swaps one reference when either changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from autoresolve.model.audit import audit_mask, check_share, is_audited
from autoresolve.model.decision import SERVED_COLUMNS, Decision
from autoresolve.model.guard_policy import GUARD_REASON, GuardView, apply_verdict, guard_for
from autoresolve.model.records import RecordError


class ServedPolicy:
    """The policy as served: its decisions, audited and guarded. Immutable; rebuilt to change."""

    def __init__(
        self, policy: Any, view: GuardView | None, *, audit_share: float, audit_seed: int = 0
    ):
        if view is not None and view.state.policy_version != str(policy.version):
            view = None  # another version's verdict never applies
        self.policy = policy
        self.view = view
        self.audit_share = check_share(audit_share)
        self.audit_seed = int(audit_seed)
        self.version = policy.version

    def decide_records(
        self, records: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> list[Decision | RecordError]:
        out = self.policy.decide_records(records, now)
        return [d if isinstance(d, Exception) else self.serve(d) for d in out]

    def decide_record(self, record: Mapping[str, Any], now: datetime | None = None) -> Decision:
        return self.serve(self.policy.decide_record(record, now))

    def serve(self, d: Decision) -> Decision:
        """One certified decision as served (unchanged unless audited or guarded: the hot path);
        the same verdict as `apply_verdict` on a frame (`GuardView.hold`)."""
        if d.outcome != "resolved":
            return d
        audit = is_audited(d.record_id, self.audit_share, self.audit_seed)
        why, threshold = (
            self.view.hold(d.source, d.rule_id, d.confidence, d.threshold)
            if self.view is not None
            else (None, d.threshold)
        )
        if why is None:
            return replace(d, audit=True) if audit else d
        return replace(
            d,
            outcome="deferred",
            resolution=None,
            threshold=threshold,
            defer_reason=GUARD_REASON,
            guard_reason=why,
            audit=audit,
        )

    def decide_frame(self, df: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
        """The table path: the same audit sample and the same guard as `serve`, by column."""
        certified = self.policy.decide_frame(df, now)
        resolved = (certified["outcome"] == "resolved").to_numpy()
        out = apply_verdict(certified, self.view)
        out["audit"] = resolved & audit_mask(out["record_id"], self.audit_share, self.audit_seed)
        return out[list(SERVED_COLUMNS)]

    def describe(self) -> dict[str, Any]:
        """The guard section of `/v1/policy`: what is applied, and the audit share behind it."""
        view = self.view or GuardView(guard_for(self.policy))
        return view.describe() | {"audit_share": self.audit_share}
