"""Rule health on recent labels: which rules (hand-written or learned) fall below their bar, and
the records they get wrong.

`train`, `retrain` and `report` run it; `retrain` and the replay retire a *learned* rule that is
below its bar (a hand-written rule is only reported: the machine never edits rules.yaml). The
statistics are the rule layer's lint (`rules.lint`): a resolving rule's precision over the
labelled records it decides (first hit), with a Wilson interval at `confidence`; "below the bar"
means the whole interval lies under it — a rule merely short of evidence is "uncertain", never
retired. The bar is the domain's target precision (a learned rule's own bar when its provenance
names a higher one).

Recent labels: rules go stale like models do, so a rule is judged on the newest labelled records
(`recent_labelled`), not on years it was right in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain
from autoresolve.model.jsonable import jsonable
from autoresolve.model.splits import time_positions

RECENT_FRACTION = 0.25
RECENT_MIN = 2_000
WRONG_SHOWN = 3
CONFIDENCE = 0.95  # the Wilson interval's, as `rules lint` reports it


@dataclass(frozen=True)
class RuleCheck:
    """One resolving rule on the recent labels."""

    rule_id: str
    then: str
    source: str
    learned: bool
    labelled: int  # recent labelled records it decides
    correct: int
    precision: float | None
    ci_low: float | None
    ci_high: float | None
    bar: float
    status: str  # ok | below_bar | uncertain | no_labels | dead | shadowed
    wrong: tuple[dict[str, Any], ...] = ()  # a few records it got wrong: id, its fields, label

    @property
    def below_bar(self) -> bool:
        return self.status == "below_bar"

    def line(self) -> str:
        kind = "learned rule" if self.learned else "rule"
        head = (
            f"{kind} '{self.rule_id}' (→ {self.then}): right on {self.correct} of "
            f"{self.labelled} recent labelled records ({(self.precision or 0):.1%}, "
            f"{CONFIDENCE:.0%} interval {(self.ci_low or 0):.1%}–{(self.ci_high or 0):.1%}), "
            f"below its bar {self.bar:.0%}"
        )
        if self.wrong:
            head += "; wrong on e.g. " + "; ".join(shown_record(w) for w in self.wrong)
        return head


@dataclass(frozen=True)
class RuleHealth:
    """Every resolving rule's check on one window of recent labelled records."""

    records: int
    start: str | None
    end: str | None
    bar: float
    rules: tuple[RuleCheck, ...] = field(default_factory=tuple)

    @property
    def unhealthy(self) -> list[RuleCheck]:
        return [r for r in self.rules if r.below_bar]

    @property
    def to_retire(self) -> list[RuleCheck]:
        """Learned rules below their bar: the machine retires these."""
        return [r for r in self.unhealthy if r.learned]

    def lines(self) -> list[str]:
        return [r.line() for r in self.unhealthy]

    def to_dict(self) -> dict[str, Any]:
        out = jsonable(asdict(self))
        out["unhealthy"] = [r.rule_id for r in self.unhealthy]
        return out


def shown_record(wrong: Mapping[str, Any]) -> str:
    """A wrong record as `id (field=value, …) was label`."""
    fields = ", ".join(f"{k}={v!r}" for k, v in wrong["fields"].items())
    return f"{wrong['id']} ({fields}) was {wrong['label']!r}"


def recent_labelled(
    domain: Domain,
    frame: pd.DataFrame,
    *,
    fraction: float = RECENT_FRACTION,
    min_records: int = RECENT_MIN,
) -> pd.DataFrame:
    """The newest max(min_records, fraction·n) labelled rows, in time order (given order when
    the domain has no time field)."""
    if domain.label not in frame.columns:
        return frame.iloc[0:0]
    labelled = frame[frame[domain.label].notna()]
    ordered = labelled.iloc[time_positions(domain, labelled)]
    size = max(min_records, int(np.ceil(fraction * len(ordered))))
    return ordered.iloc[max(len(ordered) - size, 0) :].reset_index(drop=True)


def rule_bar(rule: Any, target: float) -> float:
    """A rule's precision bar: the domain's target, or a learned rule's own claim when higher."""
    claimed = ((rule.learned or {}).get("precision") or {}).get("bar")
    try:
        return max(target, float(claimed)) if claimed is not None else target
    except (TypeError, ValueError):
        return target


def rule_health(
    ruleset: Any,
    df: pd.DataFrame,
    domain: Domain,
    *,
    confidence: float = CONFIDENCE,
    shown: int = WRONG_SHOWN,
) -> RuleHealth:
    """Check every resolving rule of `ruleset` on the labelled rows of `df` (pass
    `recent_labelled(...)`); rule sets without per-rule masks (no rules) give no checks."""
    from autoresolve.rules import lint
    from autoresolve.rules.lang import fields_of

    target = float(domain.policy.target_precision)
    start, end = _span(domain, df)
    rules = tuple(getattr(ruleset, "rules", ()) or ())
    if not rules or not hasattr(ruleset, "rule_masks") or domain.label not in df.columns:
        return RuleHealth(len(df), start, end, target)
    checks: list[RuleCheck] = []
    first = np.asarray(ruleset.match_frame(df), dtype=np.int64)
    known = df[domain.label].notna().to_numpy()
    truth = df[domain.label].astype(object).to_numpy()
    linted = lint(ruleset, df, domain.label, precision_bar=target, confidence=confidence)
    for j, (rule, stats) in enumerate(zip(rules, linted.rules, strict=True)):
        if rule.defers:
            continue
        bar = rule_bar(rule, target)
        status = _status(stats, bar)
        wrong_rows = np.flatnonzero((first == j) & known & (truth != rule.then))
        read = [f for f in domain.field_types if f in fields_of(rule.expr)]
        wrong = tuple(
            {
                "id": str(df[domain.id].iat[i]) if domain.id in df.columns else str(i),
                "fields": {f: _plain(df[f].iat[i]) for f in read if f in df.columns},
                "label": truth[i],
            }
            for i in wrong_rows[-shown:][::-1]
        )
        checks.append(
            RuleCheck(
                rule_id=rule.id,
                then=rule.then,
                source=rule.source or getattr(ruleset, "source", ""),
                learned=rule.learned is not None,
                labelled=int(stats.labelled or 0),
                correct=int(stats.correct or 0),
                precision=stats.precision,
                ci_low=stats.ci_low,
                ci_high=stats.ci_high,
                bar=bar,
                status=status,
                wrong=wrong if status == "below_bar" else (),
            )
        )
    return RuleHealth(len(df), start, end, target, tuple(checks))


def _status(stats: Any, bar: float) -> str:
    """lint's status, re-read against this rule's bar (a learned rule may claim a higher one)."""
    if not stats.labelled or stats.ci_high is None:
        return stats.status
    if stats.ci_high < bar:
        return "below_bar"
    if stats.status == "below_bar" or (stats.ci_low < bar and stats.status == "ok"):
        return "uncertain"
    return stats.status


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _span(domain: Domain, df: pd.DataFrame) -> tuple[str | None, str | None]:
    if not domain.time or domain.time not in df.columns or df.empty:
        return None, None
    t = pd.to_datetime(df[domain.time], utc=True, errors="coerce", format="mixed").dropna()
    return (t.min().isoformat(), t.max().isoformat()) if len(t) else (None, None)
