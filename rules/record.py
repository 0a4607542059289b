"""Per-record evaluation: each checked tree compiled once into a tree of closures.

A call costs a few closure calls per rule, with no dispatch on node types and no pandas. The input
is a dict holding every field the rule set reads, already normalised (rules.values): a value of the
field's type or None for missing.

Meaning (shared with rules.frame): a comparison, `in`, `not in` or predicate function with a missing
operand is false; `is null` is true for missing; arithmetic or a value function with a missing
operand is missing, and so is division or `%` by zero; a boolean field used as a condition is true
only when it is true; `not`, `and`, `or` are ordinary two-valued logic over those results.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from autoresolve.rules.lang import (
    Arith,
    BoolOp,
    Call,
    Compare,
    Field,
    InList,
    IsNull,
    Literal,
    Neg,
    Node,
    Not,
)

Rec = dict[str, Any]
Fn = Callable[[Rec], Any]

_CMP = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_condition(node: Node) -> Callable[[Rec], bool]:
    """A checked boolean tree → fn(normalised record) -> bool."""
    if isinstance(node, Field):
        name = node.name
        return lambda r: r[name] is True
    if isinstance(node, Literal):
        const = bool(node.value)
        return lambda r: const
    if isinstance(node, Not):
        inner = compile_condition(node.operand)
        return lambda r: not inner(r)
    if isinstance(node, BoolOp):
        return _boolop(node.op, [compile_condition(o) for o in node.operands])
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, InList):
        return _in_list(node)
    if isinstance(node, IsNull):
        value = compile_value(node.operand)
        if node.negate:
            return lambda r: value(r) is not None
        return lambda r: value(r) is None
    if isinstance(node, Call):  # a predicate function
        arg = compile_value(node.args[0])
        pred = node.bound

        def call_pred(r: Rec) -> bool:
            v = arg(r)
            return v is not None and pred(v)

        return call_pred
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the checker prevents it


def _boolop(op: str, fns: list[Callable[[Rec], bool]]) -> Callable[[Rec], bool]:
    if len(fns) == 2:
        a, b = fns
        if op == "and":
            return lambda r: a(r) and b(r)
        return lambda r: a(r) or b(r)
    if len(fns) == 3:
        a, b, c = fns
        if op == "and":
            return lambda r: a(r) and b(r) and c(r)
        return lambda r: a(r) or b(r) or c(r)
    seq = tuple(fns)
    if op == "and":

        def all_of(r: Rec) -> bool:
            for f in seq:  # noqa: SIM110 - a plain loop is cheaper than all(generator)
                if not f(r):
                    return False
            return True

        return all_of

    def any_of(r: Rec) -> bool:
        for f in seq:  # noqa: SIM110 - a plain loop is cheaper than any(generator)
            if f(r):
                return True
        return False

    return any_of


def _compare(node: Compare) -> Callable[[Rec], bool]:
    op = node.op
    left, right = node.left, node.right
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if isinstance(right, Literal):
        c = right.value
        if isinstance(left, Literal):
            result = bool(_CMP[op](left.value, c))
            return lambda r: result
        if isinstance(left, Field):
            name = left.name
            return _field_vs_const(name, op, c)
        value = compile_value(left)
        fn = _CMP[op]

        def expr_vs_const(r: Rec) -> bool:
            v = value(r)
            return v is not None and fn(v, c)

        return expr_vs_const
    lf, rf = compile_value(left), compile_value(right)
    fn = _CMP[op]

    def expr_vs_expr(r: Rec) -> bool:
        a = lf(r)
        if a is None:
            return False
        b = rf(r)
        return b is not None and fn(a, b)

    return expr_vs_expr


def _field_vs_const(name: str, op: str, c: Any) -> Callable[[Rec], bool]:
    # None == c is False and c is never None, so == needs no missing check.
    if op == "==":
        return lambda r: r[name] == c
    if op == "!=":
        return lambda r: (v := r[name]) is not None and v != c
    if op == "<":
        return lambda r: (v := r[name]) is not None and v < c
    if op == "<=":
        return lambda r: (v := r[name]) is not None and v <= c
    if op == ">":
        return lambda r: (v := r[name]) is not None and v > c
    return lambda r: (v := r[name]) is not None and v >= c


def _in_list(node: InList) -> Callable[[Rec], bool]:
    items = frozenset(i.value for i in node.items.items)
    if isinstance(node.operand, Field):
        name = node.operand.name
        if node.negate:
            return lambda r: (v := r[name]) is not None and v not in items
        return lambda r: r[name] in items
    value = compile_value(node.operand)
    if node.negate:
        return lambda r: (v := value(r)) is not None and v not in items
    return lambda r: value(r) in items


def compile_value(node: Node) -> Fn:
    """A checked value tree → fn(normalised record) -> value or None (missing)."""
    if isinstance(node, Field):
        return operator.itemgetter(node.name)
    if isinstance(node, Literal):
        const = node.value
        return lambda r: const
    if node.type == "boolean":
        cond = compile_condition(node)
        return cond
    if isinstance(node, Neg):
        inner = compile_value(node.operand)
        return lambda r: None if (v := inner(r)) is None else -v
    if isinstance(node, Arith):
        return _arith(node)
    if isinstance(node, Call):
        arg = compile_value(node.args[0])
        fn = node.bound
        return lambda r: None if (v := arg(r)) is None else fn(v)
    raise TypeError(f"not a value: {node!r}")  # pragma: no cover


def _arith(node: Arith) -> Fn:
    lf, rf = compile_value(node.left), compile_value(node.right)
    op = node.op
    if op in ("/", "%"):
        fn = operator.truediv if op == "/" else operator.mod

        def divide(r: Rec) -> float | None:
            a = lf(r)
            if a is None:
                return None
            b = rf(r)
            if b is None or b == 0:
                return None
            x = fn(a, b)
            return None if x != x else x

        return divide
    fn = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op]

    def arith(r: Rec) -> float | None:
        a = lf(r)
        if a is None:
            return None
        b = rf(r)
        if b is None:
            return None
        x = fn(a, b)
        return None if x != x else x

    return arith
