"""How two rule sets differ, by rule id: what the retrain gate and the serving check name.

A rule file cut short still parses (the rules before the cut are valid rules): the only sign is
that rules are gone. So every place that swaps one rule set for another says which rules
disappeared, which appeared and which changed, instead of comparing versions alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RuleChanges:
    removed: tuple[str, ...]
    added: tuple[str, ...]
    changed: tuple[str, ...]  # same id, another condition or resolution

    @property
    def any(self) -> bool:
        return bool(self.removed or self.added or self.changed)

    def describe(self, limit: int = 10) -> str:
        parts = []
        for what, ids in (("missing", self.removed), ("added", self.added)):
            if ids:
                more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
                parts.append(f"{len(ids)} {what}: {', '.join(ids[:limit])}{more}")
        if self.changed:
            parts.append(f"{len(self.changed)} changed: {', '.join(self.changed[:limit])}")
        return "; ".join(parts) or "no rule differs by id (same rules, other file content)"


def _by_id(rules: Any) -> dict[str, Any]:
    return {r.id: r for r in getattr(rules, "rules", ()) or ()}


def rule_changes(old: Any, new: Any) -> RuleChanges:
    """What going from rule set `old` to `new` removes, adds and changes (ids in file order)."""
    before, after = _by_id(old), _by_id(new)
    return RuleChanges(
        removed=tuple(i for i in before if i not in after),
        added=tuple(i for i in after if i not in before),
        changed=tuple(i for i in after if i in before and before[i] != after[i]),
    )
