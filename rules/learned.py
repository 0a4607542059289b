"""The learned-rules file: suggestions as reviewable YAML, and writing them beside rules.yaml.

`rules.learned.yaml` has the rule file's format plus a `learned:` block per rule (when it was
learned, from which labels, the measured bound and coverage). It is loaded after rules.yaml
(`loader.load_domain_rules`), so a hand-written rule always wins; the machine writes this file and
never the hand-written one. A learned rule that falls below its bar on recent labels is retired
by the machine (`retire_learned`; `retrain` calls it, model.rule_health decides): it leaves
`rules:` and a record of it (when, why, what it measured) goes under `retired:`. A file is
written only after the whole rule set (hand-written plus learned) has been parsed from the new
text and every example of every rule holds, so a write can never leave a domain whose
`rules test` fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from autoresolve.rules.errors import RuleError
from autoresolve.rules.loader import LEARNED_FILE, RETIRED_KEY, parse_rule_layers
from autoresolve.rules.mine import MiningResult, Suggestion
from autoresolve.rules.ruleset import Rule, RuleSet

HEADER = f"""\
# {LEARNED_FILE}: rules learned from labels by `autoresolve rules suggest --apply`.
# Loaded after rules.yaml (first hit wins), so a hand-written rule always decides first.
# Each rule's `learned:` block says when it was learned, from which labels, and what it measured
# on newer labels it was not mined from. Review them; delete a rule to retire it. `retired:`
# lists the rules the machine retired (below the bar on recent labels) and why. This file is
# rewritten by the machine (comments are not kept); rules.yaml never is.
"""


def _flow(value: Any) -> str:
    """One value as inline YAML (quoted where YAML would misread it: "NO", "010", "1.0")."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=2**31, allow_unicode=True, sort_keys=False
    ).strip()
    return text.removesuffix("\n...").strip()


def provenance(
    result: MiningResult, s: Suggestion, *, fingerprint: str | None, at: str | None
) -> dict[str, Any]:
    cfg = result.config
    labels = {k: v for k, v in asdict(result.labels).items() if v is not None}
    if fingerprint:
        labels["fingerprint"] = fingerprint
    out: dict[str, Any] = {"at": at} if at else {}
    out |= {
        "by": "autoresolve rules suggest",
        "labels": labels,
        "mined_on": {k: v for k, v in asdict(result.mined_on).items() if v is not None},
        "measured_on": {k: v for k, v in asdict(result.measured_on).items() if v is not None},
        "precision": {
            "correct": s.correct,
            "matched": s.decided,
            "lower_bound": round(s.lower_bound, 4),
            "confidence": cfg.confidence,
            "bar": cfg.bar,
            "tests": result.family_size,
        },
        "coverage": {
            "newer_records": round(s.coverage, 4),
            "of_open_weight": round(s.weighted_coverage, 4),
        },
    }
    return out


def render_rules(
    result: MiningResult,
    suggestions: Sequence[Suggestion],
    *,
    fingerprint: str | None = None,
    at: str | None = None,
) -> str:
    """The suggestions as YAML list items (`  - id: ...`), ready to review or to append."""
    lines: list[str] = []
    for s in suggestions:
        note = (
            f"learned from labels, right on {s.correct} of {s.decided} newer records (lower "
            f"bound {s.lower_bound:.1%} at {result.config.confidence:.0%} confidence), decides "
            f"{s.coverage:.1%} of them"
        )
        lines += [
            f"  - id: {_flow(s.id)}",
            f"    when: {_flow(s.when)}",
            f"    then: {_flow(s.then)}",
            f"    note: {_flow(note)}",
            "    learned:",
        ]
        for key, value in provenance(result, s, fingerprint=fingerprint, at=at).items():
            lines.append(f"      {key}: {_flow(value)}")
        lines.append("    examples:")
        for ex in s.examples:
            lines.append(f"      - {_flow({'record': ex.record, 'expect': ex.expect})}")
    return "\n".join(lines) + ("\n" if lines else "")


def _existing(existing: str | None) -> dict[str, list[Any]]:
    """The rules and retirement records of an existing learned-rules file, as data."""
    if existing is None:
        return {"rules": [], RETIRED_KEY: []}
    try:
        doc = yaml.safe_load(existing)
    except yaml.YAMLError as exc:
        raise RuleError(
            f"cannot read the existing learned rules: {exc}", file=LEARNED_FILE
        ) from None
    doc = doc if isinstance(doc, dict) else {}
    return {"rules": list(doc.get("rules") or []), RETIRED_KEY: list(doc.get(RETIRED_KEY) or [])}


def learned_text(
    existing: str | None,
    new_items: str,
    *,
    drop: Collection[str] = (),
    retired: Sequence[Mapping[str, Any]] = (),
) -> str:
    """A whole learned-rules file: the rules already there (as data) except `drop`, then the new
    items; the records of retired rules (those already there, then `retired`) at the end."""
    old = _existing(existing)
    gone = set(drop)
    body = "".join(
        _rule_block(rule)
        for rule in old["rules"]
        if not (isinstance(rule, dict) and rule.get("id") in gone)
    )
    body += new_items
    text = HEADER + ("rules:\n" + body if body else "rules: []\n")
    records = [*old[RETIRED_KEY], *retired]
    if records:
        text += f"{RETIRED_KEY}:\n" + "".join(f"  - {_flow(dict(r))}\n" for r in records)
    return text


def retirement(rule: Rule, why: str, at: str | None) -> dict[str, Any]:
    """What the learned file keeps about a rule the machine retired."""
    out: dict[str, Any] = {"id": rule.id, "when": rule.when, "then": rule.then}
    if at:
        out["retired_at"] = at
    out["why"] = why
    learned_at = (rule.learned or {}).get("at")
    if learned_at:
        out["learned_at"] = learned_at
    return out


def with_learned(
    ruleset: RuleSet,
    new_items: str = "",
    *,
    drop: Collection[str] = (),
    retired: Sequence[Mapping[str, Any]] = (),
) -> tuple[RuleSet, str]:
    """In memory: `ruleset` with the learned rules `drop` removed and `new_items` appended, and
    the learned-rules file's text for it. Refused (RuleError) if an example then fails. Pure."""
    layers = ruleset.layers
    hand = layers[0]
    existing = layers[1][1] if len(layers) > 1 else None
    source = layers[1][0] if len(layers) > 1 else LEARNED_FILE
    text = learned_text(existing, new_items, drop=drop, retired=retired)
    built = _checked(((hand[0], hand[1]), (source, text)), ruleset.fields, ruleset.resolutions)
    return built, text


def _checked(
    layers: tuple[tuple[str, str], ...], fields: Mapping[str, str], resolutions: Collection[str]
) -> RuleSet:
    ruleset = parse_rule_layers(layers, fields, resolutions, layers[0][0])
    failures = ruleset.run_examples()
    if failures:
        f = failures[0]
        raise RuleError(
            f"not written: with the learned rules, example {f.index} of rule '{f.rule_id}' "
            f"fails ({f.message}); {len(failures)} example(s) in all. This is a bug in the "
            "suggestions; nothing was changed",
            file=layers[-1][0],
        )
    return ruleset


def _rule_block(rule: Any) -> str:
    """An existing learned rule, re-emitted in the same layout (its values unchanged)."""
    if not isinstance(rule, dict):
        return "  - " + _flow(rule) + "\n"
    lines: list[str] = []
    for i, (key, value) in enumerate(rule.items()):
        lead = "  - " if i == 0 else "    "
        if key == "learned" and isinstance(value, dict):
            lines.append(f"{lead}learned:")
            lines += [f"      {k}: {_flow(v)}" for k, v in value.items()]
        elif key == "examples" and isinstance(value, list):
            lines.append(f"{lead}examples:")
            lines += [f"      - {_flow(ex)}" for ex in value]
        else:
            lines.append(f"{lead}{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def write_learned(
    rules_path: str | Path,
    learned_path: str | Path,
    fields: Mapping[str, str],
    resolutions: Collection[str],
    new_items: str,
    *,
    drop: Collection[str] = (),
    retired: Sequence[Mapping[str, Any]] = (),
) -> RuleSet:
    """Append rendered suggestions to the learned-rules file (and remove the learned rules
    `drop`, keeping `retired` records of why), atomically and only if the whole rule set then
    loads and every example holds. Returns that rule set."""
    hand, learned = Path(rules_path), Path(learned_path)
    if not hand.is_file():
        raise RuleError("no hand-written rules.yaml beside the learned rules", file=str(hand))
    existing = learned.read_text(encoding="utf-8") if learned.exists() else None
    text = learned_text(existing, new_items, drop=drop, retired=retired)
    layers = ((str(hand), hand.read_text(encoding="utf-8")), (str(learned), text))
    ruleset = _checked(layers, fields, resolutions)
    fd, tmp = tempfile.mkstemp(prefix=f".{learned.name}.", suffix=".tmp", dir=learned.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, learned)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ruleset


def retire_learned(
    rules_path: str | Path,
    learned_path: str | Path,
    fields: Mapping[str, str],
    resolutions: Collection[str],
    rules: Sequence[Rule],
    why: Mapping[str, str],
    *,
    at: str | None = None,
) -> RuleSet:
    """Remove learned `rules` from the learned-rules file, recording why under `retired:`.
    Hand-written rules are refused: the machine never edits rules.yaml."""
    hand_written = [r.id for r in rules if r.learned is None]
    if hand_written:
        raise RuleError(
            f"only learned rules are retired by the machine; {hand_written} are hand-written "
            "(fix or delete them in rules.yaml yourself)",
            file=str(rules_path),
        )
    return write_learned(
        rules_path,
        learned_path,
        fields,
        resolutions,
        "",
        drop=[r.id for r in rules],
        retired=[retirement(r, why[r.id], at) for r in rules],
    )
