"""Rule health on data: shadowed, dead and overlapping rules, and precision against labels.

Rules go stale like models do: a rule that was right last year may now be wrong most of the time.
Where labels exist, each rule's precision (share of the records it decides whose true resolution
equals its `then`) gets a Wilson score interval, and a rule whose interval lies wholly below the
bar is flagged; an interval that straddles the bar is reported as "uncertain", not as fine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autoresolve.rules.lang import fields_of

if TYPE_CHECKING:
    from autoresolve.rules.ruleset import RuleSet


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RuleStats:
    rule_id: str
    then: str
    matches: int  # rows where the condition holds (order ignored)
    fires: int  # rows this rule decides (first hit)
    coverage: float  # fires / rows
    labelled: int | None = None  # decided rows that carry a label (resolving rules only)
    correct: int | None = None
    precision: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    status: str = "ok"  # ok | below_bar | uncertain | no_labels | dead | shadowed | defer


@dataclass(frozen=True)
class Finding:
    kind: str  # shadowed dead overlap below_bar uncertain duplicate_condition constant_condition
    severity: str  # error | warning | info
    rule_id: str
    message: str
    other_rule_id: str | None = None
    rows: int | None = None


@dataclass
class LintReport:
    version: str
    rows: int
    labelled_rows: int
    precision_bar: float
    confidence: float
    rules: list[RuleStats] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def lint(
    ruleset: RuleSet,
    df: pd.DataFrame,
    label: str | None = None,
    precision_bar: float = 0.95,
    confidence: float = 0.95,
    min_overlap: int = 1,
) -> LintReport:
    """Check a rule set against a table (labels in column `label`, if given and present)."""
    hits = _Hits.of(ruleset, df, label)
    report = LintReport(
        version=ruleset.version,
        rows=hits.rows,
        labelled_rows=int(hits.has_label.sum()),
        precision_bar=precision_bar,
        confidence=confidence,
    )
    first_with: dict[str, str] = {}  # canonical condition → the first rule that has it
    for j, rule in enumerate(ruleset.rules):
        report.findings += _condition_findings(ruleset, j, first_with)
        matches, fires, status, found = _reach(ruleset, hits, j)
        report.findings += found
        stats: dict[str, Any] = {}
        if rule.defers:
            status = status if status != "ok" else "defer"
        elif hits.labels is not None:
            stats, status, found = _precision(rule, hits, j, status, precision_bar, confidence)
            report.findings += found
        report.rules.append(
            RuleStats(
                rule_id=rule.id,
                then=rule.then,
                matches=matches,
                fires=fires,
                coverage=fires / hits.rows if hits.rows else 0.0,
                status=status,
                **stats,
            )
        )
    report.findings += _overlaps(ruleset, hits.masks, min_overlap)
    return report


@dataclass(frozen=True)
class _Hits:
    """Which rows each rule matches, which rule decides each row, and the labels where known."""

    masks: np.ndarray  # rows × rules
    first: np.ndarray  # the deciding rule per row (first hit), -1 for none
    labels: np.ndarray | None
    has_label: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.masks.shape[0])

    @classmethod
    def of(cls, ruleset: RuleSet, df: pd.DataFrame, label: str | None) -> _Hits:
        masks = ruleset.rule_masks(df)
        n, k = masks.shape
        first = np.full(n, -1, dtype=np.int64)
        for j in range(k - 1, -1, -1):
            np.putmask(first, masks[:, j], j)
        labels: np.ndarray | None = None
        has_label = np.zeros(n, dtype=bool)
        if label is not None and label in df.columns:
            col = df[label]
            has_label = col.notna().to_numpy(dtype=bool)
            labels = col.astype(object).where(col.notna(), None).to_numpy(dtype=object)
        return cls(masks, first, labels, has_label)


def _condition_findings(ruleset: RuleSet, j: int, first_with: dict[str, str]) -> list[Finding]:
    """Errors visible without data: a condition that reads no field, or one an earlier rule has."""
    rule = ruleset.rules[j]
    found = []
    if rule.expr is not None and not fields_of(rule.expr):
        always = ruleset.matches_each({})[j]
        found.append(
            Finding(
                "constant_condition",
                "error",
                rule.id,
                "the condition reads no field, so it is always "
                + ("true: every later rule is unreachable" if always else "false: it never fires"),
            )
        )
    if rule.canonical in first_with:
        found.append(
            Finding(
                "duplicate_condition",
                "error",
                rule.id,
                f"same condition as earlier rule '{first_with[rule.canonical]}': it can never fire",
                first_with[rule.canonical],
            )
        )
    else:
        first_with[rule.canonical] = rule.id
    return found


def _reach(ruleset: RuleSet, hits: _Hits, j: int) -> tuple[int, int, str, list[Finding]]:
    """(rows matched, rows decided, status, findings): is rule j dead or shadowed on this data?"""
    rule = ruleset.rules[j]
    matches = int(hits.masks[:, j].sum())
    fires = int((hits.first == j).sum())
    if matches == 0:
        return (
            matches,
            fires,
            "dead",
            [
                Finding(
                    "dead",
                    "warning",
                    rule.id,
                    f"matches none of the {hits.rows:,} rows; is it still needed, or is a value "
                    "misspelt?",
                )
            ],
        )
    if fires == 0:
        earlier = hits.masks[hits.masks[:, j], :j].sum(axis=0)
        by = ruleset.rules[int(np.argmax(earlier))].id
        return (
            matches,
            fires,
            "shadowed",
            [
                Finding(
                    "shadowed",
                    "warning",
                    rule.id,
                    f"matches {matches:,} rows but earlier rules decide all of them "
                    f"(mostly '{by}'); move it up or remove it",
                    by,
                    matches,
                )
            ],
        )
    return matches, fires, "ok", []


def _precision(
    rule: Any, hits: _Hits, j: int, status: str, bar: float, confidence: float
) -> tuple[dict[str, Any], str, list[Finding]]:
    """Precision of a resolving rule on the labelled rows it decides, with its interval."""
    assert hits.labels is not None
    lab = (hits.first == j) & hits.has_label
    m = int(lab.sum())
    correct = int((hits.labels[lab] == rule.then).sum()) if m else 0
    lo, hi = wilson_interval(correct, m, confidence)
    stats = {
        "labelled": m,
        "correct": correct,
        "precision": correct / m if m else None,
        "ci_low": lo,
        "ci_high": hi,
    }
    if m == 0:
        return stats, (status if status != "ok" else "no_labels"), []
    measured = (
        f"precision {correct}/{m} = {correct / m:.1%} ({confidence:.0%} CI {lo:.1%}–{hi:.1%})"
    )
    if hi < bar:
        message = f"{measured} is below the bar {bar:.0%}; fix or retire it"
        return stats, "below_bar", [Finding("below_bar", "error", rule.id, message, rows=m)]
    if lo < bar and status == "ok":
        message = f"{measured}: too few labels to show it clears {bar:.0%}"
        return stats, "uncertain", [Finding("uncertain", "info", rule.id, message, rows=m)]
    return stats, status, []


def _overlaps(ruleset: RuleSet, masks: np.ndarray, min_overlap: int) -> list[Finding]:
    """Pairs of rules with different resolutions that match the same rows: order decides."""
    n, k = masks.shape
    if k < 2 or not n:
        return []
    m32 = masks.astype(np.float32)
    both = m32.T @ m32
    found = []
    for a in range(k):
        for b in range(a + 1, k):
            ra, rb = ruleset.rules[a], ruleset.rules[b]
            rows = int(both[a, b])
            if ra.then != rb.then and rows >= min_overlap:
                by_design = rb.learned is not None and ra.learned is None
                found.append(
                    Finding(
                        "overlap",
                        "info" if by_design else "warning",
                        rb.id,
                        f"{rows:,} rows match both '{ra.id}' ({ra.then}) and '{rb.id}' "
                        f"({rb.then}); '{ra.id}' wins by order — "
                        + (
                            "as designed: learned rules come after the hand-written ones"
                            if by_design
                            else "intended?"
                        ),
                        ra.id,
                        rows,
                    )
                )
    return found
