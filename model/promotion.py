"""Moving `@champion` by hand (`autoresolve models promote | rollback`): what the gates would
refuse, and which version a rollback returns to. Pure: the facts about a version in, reasons out;
the CLI reads the registry and the domain's files, and promotes.

`retrain` promotes a challenger only when its gates pass (`model.retrain.evaluate_gates`). A person
promoting a version by hand is refused, with the reasons, whatever those gates would refuse or
what no longer fits the domain — unless they force it, and then the reasons are recorded on the
version:

- its retrain gates failed (the registry keeps their verdict and reasons on the version);
- its certificate holds no threshold: the model would resolve nothing and defer everything;
- its rule set is not the one the domain's rule files give now: the certificate was computed on
  the records those other rules left to the model, so it says nothing about today's (re-certify
  with `autoresolve retrain`, which does it without refitting when only the rules changed);
- it was trained on other fields than domain.yaml declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROMOTED_TAG = "promoted"  # why a version became champion (set on every promotion)
PREVIOUS_TAG = "previous_champion"  # the champion it replaced: where a rollback returns


@dataclass(frozen=True)
class VersionFacts:
    """What the refusals look at, read from the registry and the policy itself."""

    version: str
    gate: str | None  # "passed", "failed", or None when no gate ran (a first or a trained one)
    gate_reasons: str
    rules_version: str | None
    threshold: float | None  # the certified threshold (the lowest one, per class)
    certificate_reason: str
    field_types: Mapping[str, str] | None


def promotion_refusals(
    facts: VersionFacts, *, rules_version: str, field_types: Mapping[str, str]
) -> list[str]:
    """Why `facts.version` must not become champion for a domain whose rule files give
    `rules_version` and whose domain.yaml declares `field_types`; empty when nothing stands
    in the way."""
    v = facts.version
    out = []
    if facts.gate == "failed":
        out.append(f"version {v} failed its retrain gates ({facts.gate_reasons or 'no reasons'}).")
    if facts.threshold is None:
        why = f" ({facts.certificate_reason})" if facts.certificate_reason else ""
        out.append(f"version {v}'s certificate holds no threshold{why}: it would resolve nothing.")
    if facts.rules_version and facts.rules_version != rules_version:
        out.append(
            f"version {v} was certified with rule set {facts.rules_version[:12]}, but the "
            f"domain's rule files now give {rules_version[:12]}: its certificate does not cover "
            "the records today's rules leave to the model. Run `autoresolve retrain` to "
            "re-certify it for the current rules."
        )
    if facts.field_types is not None and dict(facts.field_types) != dict(field_types):
        diff = sorted(set(facts.field_types.items()) ^ set(field_types.items()))[:5]
        out.append(
            f"version {v} was trained on other fields than domain.yaml declares ({diff}); "
            "train a new version with `autoresolve train`."
        )
    return out


def rollback_target(champion: str, tags_by_version: Mapping[str, Mapping[str, str]]) -> str | None:
    """The version `@champion` held before `champion`: the one recorded when it was promoted,
    else the newest older version that was ever champion; None when there is none."""
    recorded = tags_by_version.get(champion, {}).get(PREVIOUS_TAG)
    if recorded and recorded in tags_by_version and recorded != champion:
        return recorded
    older = [
        v for v, tags in tags_by_version.items() if int(v) < int(champion) and PROMOTED_TAG in tags
    ]
    return max(older, key=int) if older else None


def tags_of(info: Any) -> dict[str, str]:
    """A registry version's tags without our `autoresolve.` prefix."""
    return {k.removeprefix("autoresolve."): v for k, v in info.tags.items()}


def describe_versions(
    versions: Sequence[tuple[str, Sequence[str], Mapping[str, str]]], rules_version: str
) -> list[dict[str, object]]:
    """Rows for `models list`: version, aliases, gate, whether its rules are the current ones."""
    rows = []
    for version, aliases, tags in versions:
        rules = tags.get("rules_version") or ""
        rows.append(
            {
                "version": version,
                "aliases": list(aliases),
                "gate": tags.get("gate") or "—",
                "threshold": tags.get("threshold") or "—",
                "rules": "current" if rules == rules_version else (rules[:12] or "—"),
                "promoted": tags.get(PROMOTED_TAG, ""),
                "registered_at": tags.get("registered_at", ""),
            }
        )
    return rows
