"""Rule files: load, check against the domain, and evaluate (per record or per frame).

A RuleSet is built completely or not at all: every rule is parsed, type-checked and compiled at
load, so a file that loads cannot fail later for a reason that was visible in the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rules import frame, record
from rules.check import VALUE_TYPE, Checker
from rules.errors import ExprError, RuleError, suggest
from rules.funcs import share_regexes
from rules.lang import Call, Node, children, fields_of, parse, unparse
from rules.values import NORMALISERS
from rules.yamlsafe import compose, construct

DEFER = "defer"
RULE_KEYS = ("id", "when", "then", "note", "examples")
EXAMPLE_KEYS = ("record", "expect")
MAX_RULES = 5_000


@dataclass(frozen=True)
class Example:
    record: dict[str, Any]
    expect: str | None  # a resolution, "defer", or None (no rule fires)
    line: int = 0


@dataclass(frozen=True)
class Rule:
    id: str
    when: str
    then: str
    note: str = ""
    examples: tuple[Example, ...] = ()
    line: int = 0
    expr: Node | None = field(default=None, repr=False, compare=False)
    canonical: str = ""

    @property
    def defers(self) -> bool:
        return self.then == DEFER


@dataclass(frozen=True)
class ExampleFailure:
    rule_id: str
    index: int  # 1-based position among the rule's examples
    line: int
    record: dict[str, Any]
    expected: str | None
    got: str | None
    fired: str | None  # id of the rule that fired, if any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class RuleSet:
    """An ordered, checked, compiled rule file. First matching rule wins."""

    def __init__(
        self,
        rules: tuple[Rule, ...],
        fields: Mapping[str, str],
        resolutions: Collection[str],
        source: str,
        text: str,
    ) -> None:
        self.rules = rules
        self.source = source
        self.fields = dict(fields)
        self.resolutions = tuple(resolutions)
        self._text = text
        canon = [[r.id, r.canonical, r.then] for r in rules]
        digest = hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode("utf-8"))
        self.version = digest.hexdigest()[:12]
        used: set[str] = set()
        for r in rules:
            assert r.expr is not None
            used |= fields_of(r.expr)
        self.used_fields = tuple(sorted(used))
        self._types = {n: VALUE_TYPE[self.fields[n]] for n in self.used_fields}
        self._normers = tuple((n, NORMALISERS[self._types[n]]) for n in self.used_fields)
        self._record_fns = tuple((r, record.compile_condition(r.expr)) for r in rules)  # type: ignore[arg-type]
        share_regexes([c for r in rules for c in _calls(r.expr, "matches")], unparse)
        self._frame_fns = tuple(frame.compile_condition(r.expr) for r in rules)  # type: ignore[arg-type]
        self._by_id = {r.id: r for r in rules}

    # --- identity -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({self.source!r}, {len(self.rules)} rules, version {self.version})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled closures and RE2 objects do not pickle; the source text rebuilds them exactly.
        return (parse_rules, (self._text, self.fields, self.resolutions, self.source))

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def index_of(self, rule_id: str) -> int:
        return self.rules.index(self._by_id[rule_id])

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "rules": [
                {"id": r.id, "when": r.when, "then": r.then, "note": r.note} for r in self.rules
            ],
        }

    # --- per record ---------------------------------------------------------------------------
    def normalise(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the rules read, as the rules see them (None = missing)."""
        get = rec.get
        return {name: norm(get(name)) for name, norm in self._normers}

    def match_record(self, rec: Mapping[str, Any]) -> Rule | None:
        r = self.normalise(rec)
        for rule, fn in self._record_fns:
            if fn(r):
                return rule
        return None

    def match_index(self, rec: Mapping[str, Any]) -> int:
        r = self.normalise(rec)
        for i, (_, fn) in enumerate(self._record_fns):
            if fn(r):
                return i
        return -1

    def matches_each(self, rec: Mapping[str, Any]) -> list[bool]:
        """Whether each rule's condition holds, ignoring order (explain, lint)."""
        r = self.normalise(rec)
        return [bool(fn(r)) for _, fn in self._record_fns]

    # --- per frame ----------------------------------------------------------------------------
    def rule_masks(self, df: pd.DataFrame) -> np.ndarray:
        """(rows × rules) booleans: which rule conditions hold on which rows, order ignored."""
        ctx = frame.FrameCtx(df, self._types)
        out = np.zeros((len(df), len(self.rules)), dtype=bool)
        for j, fn in enumerate(self._frame_fns):
            out[:, j] = ctx.full(fn(ctx))
        return out

    def match_frame(self, df: pd.DataFrame) -> np.ndarray:
        """Index of the first matching rule per row (-1: none). Columns absent count as missing."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"match_frame takes a pandas DataFrame, got {type(df).__name__}")
        ctx = frame.FrameCtx(df, self._types)
        out = np.full(len(df), -1, dtype=np.int64)
        for j in range(len(self._frame_fns) - 1, -1, -1):
            mask = self._frame_fns[j](ctx)
            if isinstance(mask, np.ndarray) and mask.ndim == 1:
                np.putmask(out, mask, j)
            elif bool(np.asarray(mask).all()):
                out[:] = j
        return out

    def resolutions_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """rule_id and then per row (None where no rule fires), same order as df."""
        idx = self.match_frame(df)
        ids = np.array([r.id for r in self.rules] + [None], dtype=object)
        thens = np.array([r.then for r in self.rules] + [None], dtype=object)
        return pd.DataFrame({"rule_id": ids[idx], "then": thens[idx]}, index=df.index, dtype=object)

    # --- explain and examples -----------------------------------------------------------------
    def explain(self, rec: Mapping[str, Any]) -> list[Any]:
        from rules.explain import explain_record

        return explain_record(self, rec)

    def run_examples(self) -> list[ExampleFailure]:
        failures: list[ExampleFailure] = []
        cases = [(rule, i, ex) for rule in self.rules for i, ex in enumerate(rule.examples, 1)]
        if not cases:
            return failures
        framed = self.match_frame(pd.DataFrame([ex.record for _, _, ex in cases]))
        for (rule, i, ex), fj in zip(cases, framed, strict=True):
            got = self.match_record(ex.record)
            got_then = got.then if got else None
            frame_rule = self.rules[fj] if fj >= 0 else None
            if frame_rule is not got:
                msg = (
                    f"the two evaluators disagree (record: {got.id if got else None}, frame: "
                    f"{frame_rule.id if frame_rule else None}); this is a bug in autoresolve, "
                    "please report it with this rule and example"
                )
            elif got_then != ex.expect:
                fired = f"rule '{got.id}' fired ({got_then})" if got else "no rule fired"
                msg = f"expected {ex.expect or 'no rule to fire'}, but {fired}"
            else:
                continue
            failures.append(
                ExampleFailure(
                    rule_id=rule.id,
                    index=i,
                    line=ex.line,
                    record=dict(ex.record),
                    expected=ex.expect,
                    got=got_then,
                    fired=got.id if got else None,
                    message=msg,
                )
            )
        return failures


def _calls(node: Node | None, func: str) -> list[Call]:
    out: list[Call] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.func == func:
            out.append(n)
        stack.extend(children(n))
    return out


# --- loading ------------------------------------------------------------------------------------


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
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(
            f"not UTF-8 text (byte {exc.start}: {exc.reason}); is this the right file?",
            file=str(p),
        ) from None
    return parse_rules(text, fields, resolutions, source=str(p))


def parse_rules(
    text: str,
    fields: Mapping[str, str],
    resolutions: Collection[str],
    source: str = "rules.yaml",
) -> RuleSet:
    """Parse and check rule-file text. Pure: no file access."""
    if not isinstance(text, str):
        raise RuleError(f"rule text must be str, got {type(text).__name__}", file=source)
    checker = Checker(fields)
    resolutions = tuple(resolutions)
    node, loader = compose(text, source)
    lines = text.splitlines()

    def err(msg: str, n: yaml.Node | None, rule_id: str | None = None) -> RuleError:
        line = n.start_mark.line + 1 if n is not None else None
        col = n.start_mark.column + 1 if n is not None else None
        return RuleError(msg, file=source, rule_id=rule_id, line=line, column=col)

    if node is None:
        raise RuleError(
            "the rule file is empty; write `rules: []` for a domain without rules", file=source
        )
    if not isinstance(node, yaml.MappingNode):
        raise err("a rule file is a mapping with one key, `rules:` (a list of rules)", node)
    top = _mapping(node, source)
    for key, (knode, _) in top.items():
        if key != "rules":
            raise err(f"unknown top-level key '{key}'; a rule file has only `rules:`", knode)
    if "rules" not in top:
        raise err("missing `rules:` (write `rules: []` for none)", node)
    rules_node = top["rules"][1]
    if isinstance(rules_node, yaml.ScalarNode) and rules_node.tag.endswith(":null"):
        items: list[yaml.Node] = []
    elif not isinstance(rules_node, yaml.SequenceNode):
        raise err("`rules:` must be a list of rules (each starting with `- id: ...`)", rules_node)
    else:
        items = list(rules_node.value)
    if len(items) > MAX_RULES:
        raise err(f"{len(items):,} rules; the limit is {MAX_RULES:,}", rules_node)

    built: list[Rule] = []
    seen: dict[str, int] = {}
    for item in items:
        rule = _rule(item, checker, resolutions, loader, source, lines, err)
        if rule.id in seen:
            raise err(
                f"duplicate rule id (first defined at line {seen[rule.id]}); ids must be unique",
                item,
                rule.id,
            )
        seen[rule.id] = rule.line
        built.append(rule)
    return RuleSet(tuple(built), fields, resolutions, source, text)


def _mapping(node: yaml.MappingNode, source: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise RuleError(
                "keys must be plain names",
                file=source,
                line=k.start_mark.line + 1,
                column=k.start_mark.column + 1,
            )
        if k.value in out:
            raise RuleError(
                f"key '{k.value}' appears twice",
                file=source,
                line=k.start_mark.line + 1,
                column=k.start_mark.column + 1,
            )
        out[k.value] = (k, v)
    return out


def _scalar_text(n: yaml.Node, what: str, err: Any, rule_id: str | None) -> str:
    if not isinstance(n, yaml.ScalarNode) or n.tag.endswith(":null") or n.value == "":
        raise err(f"`{what}` must be a non-empty text value", n, rule_id)
    return n.value


def _rule(item, checker, resolutions, loader, source, lines, err) -> Rule:
    if not isinstance(item, yaml.MappingNode):
        raise err(
            "each rule is a mapping with id, when, then (and optionally note, examples)", item
        )
    keys = _mapping(item, source)
    rid_node = keys.get("id", (None, None))[1]
    if rid_node is None:
        raise err("rule without `id`", item)
    rule_id = _scalar_text(rid_node, "id", err, None)
    if len(rule_id) > 200:
        raise err("rule id is longer than 200 characters", rid_node)
    for k, (knode, _) in keys.items():
        if k not in RULE_KEYS:
            raise err(f"unknown key '{k}'." + suggest(k, RULE_KEYS), knode, rule_id)
    for req in ("when", "then"):
        if req not in keys:
            raise err(f"missing `{req}`", item, rule_id)
    when_node = keys["when"][1]
    when = _scalar_text(when_node, "when", err, rule_id)
    try:
        expr = checker.condition(parse(when))
        canonical = unparse(expr)
    except ExprError as exc:
        line, col = _locate(when_node, when, exc.pos, lines)
        raise RuleError(
            f"{exc.message}\n    when: {_caret(when, exc.pos)}",
            file=source,
            rule_id=rule_id,
            line=line,
            column=col,
        ) from None
    then_node = keys["then"][1]
    then = _scalar_text(then_node, "then", err, rule_id)
    if then != DEFER and then not in resolutions:
        raise err(
            f"unknown resolution '{then}'."
            + suggest(then, [*resolutions, DEFER])
            + " `then` is one of the domain's resolutions or `defer`.",
            then_node,
            rule_id,
        )
    note = ""
    if "note" in keys:
        note_val = construct(loader, keys["note"][1], source)
        note = "" if note_val is None else str(note_val)
    examples: tuple[Example, ...] = ()
    if "examples" in keys:
        examples = _examples(
            keys["examples"][1], checker, resolutions, loader, source, err, rule_id
        )
    return Rule(
        id=rule_id,
        when=when,
        then=then,
        note=note,
        examples=examples,
        line=item.start_mark.line + 1,
        expr=expr,
        canonical=canonical,
    )


def _examples(node, checker, resolutions, loader, source, err, rule_id) -> tuple[Example, ...]:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise err("`examples` is a list of {record: {...}, expect: ...}", node, rule_id)
    out: list[Example] = []
    for i, ex in enumerate(node.value, 1):
        where = f"example {i}"
        if not isinstance(ex, yaml.MappingNode):
            raise err(f"{where}: expected {{record: {{...}}, expect: ...}}", ex, rule_id)
        keys = _mapping(ex, source)
        for k, (knode, _) in keys.items():
            if k not in EXAMPLE_KEYS:
                raise err(f"{where}: unknown key '{k}'." + suggest(k, EXAMPLE_KEYS), knode, rule_id)
        if "record" not in keys or "expect" not in keys:
            raise err(
                f"{where}: needs both `record` and `expect` (expect: null when no rule "
                "should fire)",
                ex,
                rule_id,
            )
        rec_node = keys["record"][1]
        rec = construct(loader, rec_node, source)
        if rec is None:
            rec = {}
        if not isinstance(rec, dict):
            raise err(f"{where}: `record` must be a mapping of field: value", rec_node, rule_id)
        for fname, value in rec.items():
            _check_example_value(
                fname, value, checker.fields, keys["record"][1], err, rule_id, where
            )
        exp_node = keys["expect"][1]
        expect = construct(loader, exp_node, source)
        if expect is not None and (
            not isinstance(expect, str) or (expect != DEFER and expect not in resolutions)
        ):
            raise err(
                f"{where}: expect {expect!r} is not a resolution, `defer` or null."
                + suggest(str(expect), [*resolutions, DEFER]),
                exp_node,
                rule_id,
            )
        out.append(Example(record=rec, expect=expect, line=ex.start_mark.line + 1))
    return tuple(out)


def _check_example_value(fname, value, fields, node, err, rule_id, where) -> None:
    if not isinstance(fname, str) or fname not in fields:
        raise err(f"{where}: unknown field '{fname}'." + suggest(str(fname), fields), node, rule_id)
    if value is None:
        return
    vtype = VALUE_TYPE[fields[fname]]
    ok = {
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "datetime": isinstance(value, date | datetime)
        or (isinstance(value, str) and NORMALISERS["datetime"](value) is not None),
    }[vtype]
    if not ok:
        hint = ""
        if vtype == "string" and not isinstance(value, str):
            hint = " Quote it: YAML reads yes/no/on/off/NO as booleans and 010 as a number."
        raise err(
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
