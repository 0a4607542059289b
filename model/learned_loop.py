"""Learned rules in the retraining loop: retire the ones below their bar, mine new ones.

What a deployment does by hand — `autoresolve rules suggest --apply` now and then, `retrain`
retiring learned rules that went bad — as one pure step, so the replay (`simulate
--learned-rules`) can run it at each retraining: from the labels revealed so far,

1. rule health (model.rule_health) on the newest of them retires every learned rule below its
   bar (a hand-written rule is never touched);
2. the miner (rules.mine.suggest_rules, the same one `rules suggest` runs, at the domain's target
   precision and confidence) looks for rules deciding what the remaining rules leave open,
   weighted toward what today's policy defers; a rule the loop retired before is not added back;
3. the result is a candidate rule set (hand-written, kept and new learned rules, in that order).

The candidate is then gated like any challenger: the retraining job sees a changed rule set,
re-certifies or refits the model for it, and the gates decide whether it serves. Nothing here
writes a file (`rules.learned` does that for the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain
from autoresolve.model.rule_health import RuleHealth, recent_labelled, rule_health

# What covering a record the model already resolves is worth to the miner, against 1 for a
# deferred one: a rule there adds an audit trail, not autonomy (`rules suggest` weighs the same).
RESOLVED_WEIGHT = 0.25


@dataclass(frozen=True)
class LearnedUpdate:
    """One step's candidate rule set and what changed."""

    rules: Any  # rules.RuleSet: hand-written, kept learned, new learned
    retired: tuple[str, ...]
    added: tuple[str, ...]
    health: RuleHealth
    mined: int  # labelled records the miner read
    note: str = ""


def starting_rules(domain: Domain, rules: Any) -> Any:
    """A rule set the learned layer can be composed onto: `rules`, else the domain's, else an
    empty hand-written layer (a domain without rules.yaml)."""
    from autoresolve.rules import parse_rules

    if rules is None:
        from autoresolve.model.policy import default_rules

        rules = default_rules(domain)
    if hasattr(rules, "layers"):
        return rules
    return parse_rules("rules: []\n", domain.field_types, domain.resolutions, source="rules.yaml")


def learned_ids(rules: Any) -> set[str]:
    return {r.id for r in getattr(rules, "rules", ()) if getattr(r, "learned", None) is not None}


def refresh_learned_rules(
    domain: Domain,
    rules: Any,
    labelled: pd.DataFrame,
    *,
    weights: np.ndarray | None = None,
    at: str | None = None,
    retired_before: set[str] | None = None,
    max_rules: int = 10,
) -> LearnedUpdate:
    """The candidate rule set after retiring and mining on `labelled` (see the module doc)."""
    from autoresolve.rules import RuleError
    from autoresolve.rules.learned import render_rules, retirement, with_learned
    from autoresolve.rules.mine import MiningConfig, suggest_rules

    rules = starting_rules(domain, rules)
    health = rule_health(rules, recent_labelled(domain, labelled), domain)
    retire = [r.rule_id for r in health.to_retire]
    kept = rules
    if retire:
        records = [retirement(rules.get(i), health_line(health, i), at) for i in retire]
        kept, _ = with_learned(rules, drop=retire, retired=records)
    config = MiningConfig(
        bar=domain.policy.target_precision,
        confidence=domain.policy.confidence,
        max_rules=max_rules,
    )
    mined = suggest_rules(
        labelled.reset_index(drop=True),
        label=domain.label,
        fields=domain.field_types,
        resolutions=domain.resolutions,
        existing=kept,
        time=domain.time,
        weights=weights,
        config=config,
    )
    skip = (retired_before or set()) | set(retire)
    fresh = [s for s in mined.suggestions if s.id not in skip]
    out, note = kept, ""
    if fresh:
        try:
            out, _ = with_learned(kept, render_rules(mined, fresh, at=at))
        except RuleError as exc:  # a suggestion clashing with a rule already there: none added
            fresh, note = [], f"suggestions not added: {exc}"
    return LearnedUpdate(
        rules=out,
        retired=tuple(retire),
        added=tuple(s.id for s in fresh),
        health=health,
        mined=len(labelled),
        note=note,
    )


def health_line(health: RuleHealth, rule_id: str) -> str:
    return next(r.line() for r in health.rules if r.rule_id == rule_id)
