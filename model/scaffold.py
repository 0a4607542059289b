"""The text of a new domain folder's two files, from an export's profile (`model.profile`).

Pure: strings out. `domain.yaml` says, in comments beside each key, how it was chosen, lists the
resolutions found so a person can edit them, and names every column it left out with the reason;
`rules.yaml` starts empty with a commented example, and rules suggested from the labels
(`rules.mine`), also commented, for a person to review before any of them decides a record.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

import yaml

from autoresolve.model.profile import Column, ExportProfile

DEFAULT_POLICY = (
    ("target_precision", 0.95, "of the records the model resolves"),
    ("confidence", 0.90, "the chance that the target holds, certified on held-out records"),
    ("fallback", "hold", "what the caller of a deferred record does (a label for people)"),
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def flow(value: Any) -> str:
    """One value as inline YAML, quoted where YAML would misread it ("NO", "010", "1.0")."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=2**31, allow_unicode=True, sort_keys=False
    )
    return text.strip().removesuffix("...").strip()


def _aligned(pairs: Sequence[tuple[str, str]], indent: str = "") -> list[str]:
    """`text  # comment` lines with the comments in one column."""
    width = max((len(t) for t, _ in pairs), default=0)
    return [f"{indent}{t:<{width}}  # {c}" if c else f"{indent}{t}" for t, c in pairs]


def _comment(text: str, prefix: str = "# ", width: int = 98) -> list[str]:
    return [prefix + line for line in textwrap.wrap(text, width - len(prefix))]


def domain_yaml(profile: ExportProfile, *, name: str, source: str, data: str) -> str:
    """domain.yaml for `profile`; `data` is the export's path relative to the domain folder."""
    p = profile
    lines = [
        f"# Written by `autoresolve init` from {source} ({p.rows:,} rows). Edit freely: every",
        "# key is described in docs/domains.md; `autoresolve train` refuses a mistake, naming it.",
        f"name: {flow(name)}",
        "description: >",
        f"  Records from {flow(source.rsplit('/', 1)[-1])}, resolved by '{p.label}'.",
    ]
    unlabelled = f"{p.unlabelled:,} rows without one are not trained on" if p.unlabelled else ""
    head = [
        (f"id: {flow(p.id)}", p.id_why),
        (f"label: {flow(p.label)}", unlabelled),
    ]
    if p.time:
        head.append((f"time: {flow(p.time)}", p.time_why))
    head += [(f"data: {flow(data)}", "the export, relative to this folder"),
             (f"periods: {p.periods}", "the replay's and the report's time buckets")]  # fmt: skip
    lines += _aligned(head)
    if not p.time:
        lines += _comment(f"no time column: {p.time_why}.")
    lines += _comment(
        "The resolutions found in the data, most frequent first. Edit them here and in the data "
        "alike (a label the list lacks is refused), or remove the key to take them from the "
        "labels at each training."
    )
    lines.append("resolutions:")
    lines += _aligned(
        [(f"- {flow(r)}", f"{n:,} record{'s' * (n != 1)}") for r, n in p.resolutions], "  "
    )
    lines.append("fields:")
    lines += _aligned([(f"{flow(c.name)}: {c.type}", c.why) for c in p.fields], "  ")
    lines += _left_out(p.left_out)
    lines.append("policy:")
    lines += _aligned([(f"{k}: {flow(v)}", why) for k, v, why in DEFAULT_POLICY], "  ")
    return "\n".join(lines) + "\n"


def _left_out(columns: Sequence[Column]) -> list[str]:
    if not columns:
        return []
    out = _comment(
        "Left out, with the reason. A leak (a value known only after the resolution) would make "
        "the model look certain on history and fail on new records; if one of these is in fact "
        "known when a record is created, move it under fields with its type."
    )
    for c in columns:
        out += _comment(f"{c.name}: {c.why}.", prefix="#   ")
    return out


def rules_yaml(
    profile: ExportProfile, suggestions: Sequence[Any] = (), *, note: str | None = None
) -> str:
    """rules.yaml with no rule, a commented example and the suggestions (commented)."""
    lines = [
        "# The known paths: a rule resolves the records its condition matches before the model",
        "# sees them (first match wins). `autoresolve rules test --domain DIR` runs the examples;",
        "# the language: docs/rules.md. Remove a '#' column to use a rule below.",
        "rules:",
    ]
    lines += _example(profile)
    if suggestions:
        lines.append("#")
        lines += _comment(
            "Suggested from the labels (`autoresolve rules suggest`): each held its precision "
            "on the newest records it was not mined on. Review before use; "
            "`autoresolve rules suggest --domain DIR --apply` writes them to rules.learned.yaml."
        )
        for s in suggestions:
            lines += _rule_lines(s.id, s.when, s.then, _suggestion_note(s), s.examples)
    elif note:
        lines += _comment(note)
    return "\n".join(lines) + "\n"


def _example(profile: ExportProfile) -> list[str]:
    """A rule of the right shape on this domain's fields (its most common value), to copy."""
    field = next(
        (
            c
            for c in profile.fields
            if c.type == "category" and c.top is not None and IDENTIFIER.fullmatch(c.name)
        ),
        None,
    )
    if field is None or not profile.resolutions:
        return []
    then = profile.resolutions[0][0]
    literal = '"' + str(field.top).replace("\\", "\\\\").replace('"', '\\"') + '"'
    example = type("Example", (), {"record": {field.name: field.top}, "expect": then})
    return [
        "#   The shape of a rule (an example, not a rule the data supports):",
        *_rule_lines(
            "example",
            f"{field.name} == {literal}",
            then,
            "why records like these always end this way",
            [example],
        ),
    ]


def _rule_lines(rid: str, when: str, then: str, note: str, examples: Sequence[Any]) -> list[str]:
    lines = [
        f"#  - id: {flow(rid)}",
        f"#    when: {flow(when)}",
        f"#    then: {flow(then)}",
        f"#    note: {flow(note)}",
    ]
    if examples:
        lines.append("#    examples:")
        lines += [f"#      - {flow({'record': e.record, 'expect': e.expect})}" for e in examples]
    return lines


def _suggestion_note(s: Any) -> str:
    return (
        f"suggested: right on {s.correct} of {s.decided} newer records (lower bound "
        f"{s.lower_bound:.1%}), decides {s.coverage:.1%} of them"
    )
