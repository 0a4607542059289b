"""Reading a rule file: YAML structure, then each rule checked against the domain.

Works on the composed YAML node tree (not plain dicts) so that every error can name the line and
column of the offending key or value. The file is accepted whole or refused: the first problem
raises RuleError and nothing is built.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from autoresolve.rules.check import VALUE_TYPE, Checker
from autoresolve.rules.errors import ExprError, RuleError, suggest
from autoresolve.rules.lang import parse, unparse
from autoresolve.rules.ruleset import DEFER, Example, Rule, RuleSet
from autoresolve.rules.values import norm_datetime
from autoresolve.rules.yamlsafe import compose, construct

RULE_KEYS = ("id", "when", "then", "note", "examples")
LEARNED_KEY = "learned"  # provenance, only in the learned-rules file
LEARNED_FILE = "rules.learned.yaml"
RETIRED_KEY = "retired"  # learned rules the machine retired, with why (learned file only)
EXAMPLE_KEYS = ("record", "expect")
MAX_RULES = 5_000
MAX_ID_CHARS = 200


def load_rules(
    path: str | Path, fields: Mapping[str, str], resolutions: Collection[str]
) -> RuleSet:
    """Load and check `rules.yaml` (or a domain folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "rules.yaml"
    if not p.is_file():
        raise RuleError(
            "no rule file here; a domain folder holds rules.yaml (write `rules: []` for none)",
            file=str(p),
        )
    return parse_rules(_read_text(p), fields, resolutions, source=str(p))


def parse_rules(
    text: str,
    fields: Mapping[str, str],
    resolutions: Collection[str],
    source: str = "rules.yaml",
) -> RuleSet:
    """Parse and check rule-file text. Pure: no file access."""
    if not isinstance(text, str):
        raise RuleError(f"rule text must be str, got {type(text).__name__}", file=source)
    reader = _Reader(text, Checker(fields), tuple(resolutions), source)
    return RuleSet(reader.rules(), fields, reader.resolutions, source, text, rebuild=parse_rules)


def load_domain_rules(
    rules_path: str | Path,
    learned_path: str | Path | None,
    fields: Mapping[str, str],
    resolutions: Collection[str],
) -> RuleSet:
    """The hand-written rules, then the learned ones when that file exists (first hit wins).

    Without a learned file this is exactly `load_rules(rules_path, ...)` (same version).
    """
    learned = Path(learned_path) if learned_path is not None else None
    if learned is None or not learned.exists():
        return load_rules(rules_path, fields, resolutions)
    hand = Path(rules_path)
    hand = hand / "rules.yaml" if hand.is_dir() else hand
    if not hand.is_file():
        raise RuleError(
            f"a learned-rules file ({learned.name}) needs the hand-written rules.yaml beside it "
            "(write `rules: []` for none)",
            file=str(hand),
        )
    layers = ((str(hand), _read_text(hand)), (str(learned), _read_text(learned)))
    return parse_rule_layers(layers, fields, resolutions, str(hand))


def parse_rule_layers(
    layers: tuple[tuple[str, str], ...],
    fields: Mapping[str, str],
    resolutions: Collection[str],
    source: str = "rules.yaml",
) -> RuleSet:
    """One rule set from (source, text) layers in order: the first is written by hand, the
    others were learned from labels (each of their rules carries `learned:` provenance).

    Ids must be unique across layers. Pure: no file access.
    """
    if not layers:
        raise RuleError("no rule files given", file=source)
    checker = Checker(fields)
    built: list[Rule] = []
    first_seen: dict[str, Rule] = {}
    res = tuple(resolutions)
    for i, (src, text) in enumerate(layers):
        if not isinstance(text, str):
            raise RuleError(f"rule text must be str, got {type(text).__name__}", file=src)
        reader = _Reader(text, checker, res, src, learned=i > 0)
        for rule in reader.rules():
            if rule.id in first_seen:
                other = first_seen[rule.id]
                raise RuleError(
                    f"rule id '{rule.id}' is already used in {other.source}:{other.line}; ids "
                    "must be unique across the hand-written and learned files (rename or delete "
                    "this one)",
                    file=src,
                    rule_id=rule.id,
                    line=rule.line,
                )
            first_seen[rule.id] = rule
            built.append(rule)
    return RuleSet(tuple(built), fields, res, source, tuple(layers), rebuild=parse_rule_layers)


def _read_text(p: Path) -> str:
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(
            f"not UTF-8 text (byte {exc.start}: {exc.reason}); is this the right file?",
            file=str(p),
        ) from None
    except OSError as exc:
        raise RuleError(f"cannot read the rule file: {exc.strerror or exc}", file=str(p)) from None


class _Reader:
    def __init__(
        self,
        text: str,
        checker: Checker,
        resolutions: tuple[str, ...],
        source: str,
        *,
        learned: bool = False,
    ) -> None:
        self.checker = checker
        self.resolutions = resolutions
        self.source = source
        self.learned = learned
        self.lines = text.splitlines()
        self.node, self.loader = compose(text, source)

    def err(self, msg: str, node: yaml.Node | None, rule_id: str | None = None) -> RuleError:
        mark = node.start_mark if node is not None else None
        return RuleError(
            msg,
            file=self.source,
            rule_id=rule_id,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )

    def mapping(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.err("keys must be plain names", k)
            if k.value in out:
                raise self.err(f"key '{k.value}' appears twice", k)
            out[k.value] = (k, v)
        return out

    def text_of(self, node: yaml.Node, what: str, rule_id: str | None) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null") or not node.value:
            raise self.err(f"`{what}` must be a non-empty text value", node, rule_id)
        return node.value

    def rules(self) -> tuple[Rule, ...]:
        node = self.node
        if node is None:
            raise RuleError(
                "the rule file is empty; write `rules: []` for a domain without rules",
                file=self.source,
            )
        if not isinstance(node, yaml.MappingNode):
            raise self.err(
                "a rule file is a mapping with one key, `rules:` (a list of rules)", node
            )
        top = self.mapping(node)
        for key, (knode, vnode) in top.items():
            if key == RETIRED_KEY and self.learned:
                if not (
                    isinstance(vnode, yaml.SequenceNode)
                    or (isinstance(vnode, yaml.ScalarNode) and vnode.tag.endswith(":null"))
                ):
                    raise self.err(f"`{RETIRED_KEY}:` is a list of retired rules", vnode)
                continue
            if key != "rules":
                extra = f" (and `{RETIRED_KEY}:`)" if self.learned else ""
                raise self.err(
                    f"unknown top-level key '{key}'; a rule file has only `rules:`{extra}", knode
                )
        if "rules" not in top:
            raise self.err("missing `rules:` (write `rules: []` for none)", node)
        rules_node = top["rules"][1]
        if isinstance(rules_node, yaml.ScalarNode) and rules_node.tag.endswith(":null"):
            items: list[yaml.Node] = []
        elif not isinstance(rules_node, yaml.SequenceNode):
            raise self.err(
                "`rules:` must be a list of rules (each starting with `- id: ...`)", rules_node
            )
        else:
            items = list(rules_node.value)
        if len(items) > MAX_RULES:
            raise self.err(f"{len(items):,} rules; the limit is {MAX_RULES:,}", rules_node)
        built: list[Rule] = []
        seen: dict[str, int] = {}
        for item in items:
            rule = self.rule(item)
            if rule.id in seen:
                raise self.err(
                    f"duplicate rule id (first defined at line {seen[rule.id]}); ids must be "
                    "unique",
                    item,
                    rule.id,
                )
            seen[rule.id] = rule.line
            built.append(rule)
        return tuple(built)

    def rule(self, item: yaml.Node) -> Rule:
        if not isinstance(item, yaml.MappingNode):
            raise self.err(
                "each rule is a mapping with id, when, then (and optionally note, examples)", item
            )
        keys = self.mapping(item)
        rule_id = self.rule_id(keys, item)
        self.check_rule_keys(keys, item, rule_id)
        when_node = keys["when"][1]
        when = self.text_of(when_node, "when", rule_id)
        expr, canonical = self.condition(when_node, when, rule_id)
        then = self.resolution(keys["then"][1], rule_id)
        note = ""
        if "note" in keys:
            note_val = construct(self.loader, keys["note"][1], self.source)
            note = "" if note_val is None else str(note_val)
        examples = self.examples(keys["examples"][1], rule_id) if "examples" in keys else ()
        return Rule(
            id=rule_id,
            when=when,
            then=then,
            note=note,
            examples=examples,
            line=item.start_mark.line + 1,
            expr=expr,
            canonical=canonical,
            source=self.source,
            learned=self.provenance(keys, rule_id) if self.learned else None,
        )

    def rule_id(self, keys: dict[str, tuple[yaml.Node, yaml.Node]], item: yaml.Node) -> str:
        if "id" not in keys:
            raise self.err("rule without `id`", item)
        rid_node = keys["id"][1]
        rule_id = self.text_of(rid_node, "id", None)
        if len(rule_id) > MAX_ID_CHARS:
            raise self.err(f"rule id is longer than {MAX_ID_CHARS} characters", rid_node)
        return rule_id

    def check_rule_keys(
        self, keys: dict[str, tuple[yaml.Node, yaml.Node]], item: yaml.Node, rule_id: str
    ) -> None:
        allowed = (*RULE_KEYS, LEARNED_KEY) if self.learned else RULE_KEYS
        for k, (knode, _) in keys.items():
            if k == LEARNED_KEY and not self.learned:
                raise self.err(
                    f"`{LEARNED_KEY}:` (provenance) belongs to rules learned from labels, which "
                    f"live in {LEARNED_FILE}; a hand-written rule has no provenance block",
                    knode,
                    rule_id,
                )
            if k not in allowed:
                raise self.err(f"unknown key '{k}'." + suggest(k, allowed), knode, rule_id)
        for req in ("when", "then", *((LEARNED_KEY,) if self.learned else ())):
            if req not in keys:
                hint = (
                    f" (a rule written by hand belongs in rules.yaml, not {LEARNED_FILE})"
                    if req == LEARNED_KEY
                    else ""
                )
                raise self.err(f"missing `{req}`{hint}", item, rule_id)

    def condition(self, when_node: yaml.Node, when: str, rule_id: str) -> tuple[Any, str]:
        try:
            expr = self.checker.condition(parse(when))
            return expr, unparse(expr)
        except ExprError as exc:
            line, col = _locate(when_node, when, exc.pos, self.lines)
            raise RuleError(
                f"{exc.message}\n    when: {_caret(when, exc.pos)}",
                file=self.source,
                rule_id=rule_id,
                line=line,
                column=col,
            ) from None

    def resolution(self, then_node: yaml.Node, rule_id: str) -> str:
        then = self.text_of(then_node, "then", rule_id)
        if then != DEFER and then not in self.resolutions:
            raise self.err(
                f"unknown resolution '{then}'."
                + suggest(then, [*self.resolutions, DEFER])
                + " `then` is one of the domain's resolutions or `defer`.",
                then_node,
                rule_id,
            )
        return then

    def provenance(self, keys: dict[str, tuple[yaml.Node, yaml.Node]], rule_id: str) -> dict:
        prov_node = keys[LEARNED_KEY][1]
        provenance = construct(self.loader, prov_node, self.source)
        if not isinstance(provenance, dict):
            raise self.err(
                f"`{LEARNED_KEY}` is a mapping (at, labels, precision, coverage …)",
                prov_node,
                rule_id,
            )
        return provenance

    def examples(self, node: yaml.Node, rule_id: str) -> tuple[Example, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.err("`examples` is a list of {record: {...}, expect: ...}", node, rule_id)
        return tuple(self.example(ex, i, rule_id) for i, ex in enumerate(node.value, 1))

    def example(self, ex: yaml.Node, i: int, rule_id: str) -> Example:
        where = f"example {i}"
        if not isinstance(ex, yaml.MappingNode):
            raise self.err(f"{where}: expected {{record: {{...}}, expect: ...}}", ex, rule_id)
        keys = self.mapping(ex)
        for k, (knode, _) in keys.items():
            if k not in EXAMPLE_KEYS:
                raise self.err(
                    f"{where}: unknown key '{k}'." + suggest(k, EXAMPLE_KEYS), knode, rule_id
                )
        if "record" not in keys or "expect" not in keys:
            raise self.err(
                f"{where}: needs both `record` and `expect` (expect: null when no rule "
                "should fire)",
                ex,
                rule_id,
            )
        rec_node = keys["record"][1]
        rec = construct(self.loader, rec_node, self.source)
        if rec is None:
            rec = {}
        if not isinstance(rec, dict) or not isinstance(rec_node, yaml.MappingNode):
            raise self.err(
                f"{where}: `record` must be a mapping of field: value", rec_node, rule_id
            )
        value_nodes = {k.value: v for k, v in rec_node.value if isinstance(k, yaml.ScalarNode)}
        for fname, value in rec.items():
            self.check_value(fname, value, value_nodes.get(str(fname), rec_node), rule_id, where)
        exp_node = keys["expect"][1]
        expect = construct(self.loader, exp_node, self.source)
        if expect is not None and (
            not isinstance(expect, str) or (expect != DEFER and expect not in self.resolutions)
        ):
            raise self.err(
                f"{where}: expect {expect!r} is not a resolution, `defer` or null."
                + suggest(str(expect), [*self.resolutions, DEFER]),
                exp_node,
                rule_id,
            )
        return Example(record=rec, expect=expect, line=ex.start_mark.line + 1)

    def check_value(
        self, fname: Any, value: Any, node: yaml.Node, rule_id: str, where: str
    ) -> None:
        fields = self.checker.fields
        if not isinstance(fname, str) or fname not in fields:
            raise self.err(
                f"{where}: unknown field '{fname}'." + suggest(str(fname), fields), node, rule_id
            )
        if value is None:
            return
        vtype = VALUE_TYPE[fields[fname]]
        ok = {
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "datetime": isinstance(value, date | datetime)
            or (isinstance(value, str) and norm_datetime(value) is not None),
        }[vtype]
        if not ok:
            hint = ""
            if vtype == "string":
                hint = " Quote it: YAML reads yes/no/on/off/NO as booleans and 010 as a number."
            raise self.err(
                f"{where}: field '{fname}' is {fields[fname]} ({vtype}), but the example gives "
                f"{value!r}.{hint}",
                node,
                rule_id,
            )


def _locate(node: yaml.ScalarNode, text: str, pos: int, lines: list[str]) -> tuple[int, int]:
    """File line and column of offset `pos` inside a `when` scalar.

    Exact for one-line scalars; for folded, literal and multi-line plain scalars the value is
    walked segment by segment (YAML joins the stripped lines with one space or newline).
    """
    start_line, start_col = node.start_mark.line, node.start_mark.column
    if node.start_mark.line == node.end_mark.line and node.style in (None, '"', "'"):
        return start_line + 1, start_col + 1 + (1 if node.style else 0) + pos
    if node.style in (None, "|", ">"):
        first = start_line + (1 if node.style else 0)
        remaining = pos
        for idx in range(first, min(node.end_mark.line + 1, len(lines))):
            src = lines[idx]
            offset = start_col if (idx == start_line and node.style is None) else 0
            body = src[offset:]
            seg = body.strip()
            if not seg:
                continue
            indent = offset + len(body) - len(body.lstrip())
            if remaining <= len(seg):
                return idx + 1, indent + 1 + remaining
            remaining -= len(seg) + 1
    return start_line + 1, start_col + 1


def _caret(text: str, pos: int) -> str:
    flat = text.replace("\n", " ")
    lo = max(0, pos - 50)
    shown = flat[lo : pos + 50]
    prefix = "…" if lo else ""
    return f"{prefix}{shown}\n          {' ' * (len(prefix) + pos - lo)}^"
