"""Rule files: load, check against the domain, and evaluate (per record or per frame).

A RuleSet is built completely or not at all: every rule is parsed, type-checked and compiled at
load, so a file that loads cannot fail later for a reason that was visible in the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.rules import frame, record
from autoresolve.rules.check import VALUE_TYPE
from autoresolve.rules.funcs import share_regexes
from autoresolve.rules.lang import Call, Node, children, fields_of, unparse
from autoresolve.rules.values import NORMALISERS

DEFER = "defer"


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
    source: str = field(default="", compare=False)  # the file it came from
    # Provenance of a rule learned from labels (rules.learned.yaml); None for hand-written rules.
    learned: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def defers(self) -> bool:
        return self.then == DEFER

    def __hash__(self) -> int:  # examples hold dicts; a rule is identified by what it decides
        return hash((self.id, self.canonical, self.then))


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
    source: str = ""  # the file the rule (and its example) is in

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
        text: Any,
        rebuild: Callable[[Any, Mapping[str, str], tuple[str, ...], str], RuleSet] | None = None,
    ) -> None:
        self.rules = rules
        self._rebuild = rebuild  # with `text` (whatever it takes back), rebuilds this set
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
        exprs: list[Node] = [r.expr for r in rules]  # type: ignore[misc]
        shared = frame.shared_keys(exprs)
        self._frame_fns = tuple(frame.compile_condition(e, shared) for e in exprs)
        self._by_id = {r.id: r for r in rules}

    # --- identity -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({self.source!r}, {len(self.rules)} rules, version {self.version})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled closures and RE2 objects do not pickle; the source text rebuilds them exactly,
        # through the parser that made this set (the loader passes it in, so this module never
        # imports the loader).
        if self._rebuild is None:
            raise TypeError("a RuleSet pickles only when it was made by autoresolve.rules.loader")
        return (self._rebuild, (self._text, self.fields, self.resolutions, self.source))

    @property
    def layers(self) -> tuple[tuple[str, str], ...]:
        """(source, text) of each file this set was read from: the hand-written one first."""
        if isinstance(self._text, str):
            return ((self.source, self._text),)
        return tuple(self._text)

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
        # First hit without scattered writes: each row is decided once, so the sum over rules of
        # hit_j * (j + 1) is the first matching rule + 1 (0 for none); small unsigned ints keep
        # every step a cheap vector operation.
        k = len(self._frame_fns)
        acc_type = np.uint8 if k < 255 else np.uint16 if k < 65_535 else np.uint32
        n = len(df)
        acc = np.zeros(n, dtype=acc_type)
        undecided = np.ones(n, dtype=bool)
        hit = np.empty(n, dtype=bool)  # reused buffers: fresh large arrays cost page faults
        step = np.empty(n, dtype=acc_type)
        for j, fn in enumerate(self._frame_fns):
            mask = fn(ctx)
            if isinstance(mask, np.ndarray) and mask.ndim == 1:
                np.logical_and(mask, undecided, out=hit)
            elif bool(np.asarray(mask).all()):
                np.copyto(hit, undecided)
            else:
                continue
            np.multiply(hit, acc_type(j + 1), out=step, dtype=acc_type)
            acc += step
            undecided ^= hit
            if j % 8 == 7 and not undecided.any():
                break
        return acc.astype(np.int64) - 1

    def resolutions_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """rule_id and then per row (None where no rule fires), same order as df."""
        idx = self.match_frame(df)
        ids = np.array([r.id for r in self.rules] + [None], dtype=object)
        thens = np.array([r.then for r in self.rules] + [None], dtype=object)
        return pd.DataFrame({"rule_id": ids[idx], "then": thens[idx]}, index=df.index, dtype=object)

    # --- examples -----------------------------------------------------------------------------
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
                    source=rule.source or self.source,
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
