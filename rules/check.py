"""Checking a parsed condition against the domain schema, once, at load.

Every name must be a field of the domain, every operator must make sense for its operands' types,
every function must be in the table. Errors here carry the offset of the offending token so the
loader can point at the file, line and column. A checked tree has `type` set on every node and
datetime literals already parsed, so the evaluators never decide anything about types at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

from autoresolve.rules.errors import ExprError, suggest
from autoresolve.rules.funcs import FUNCS, build
from autoresolve.rules.lang import (
    Arith,
    BoolOp,
    Call,
    Compare,
    Field,
    InList,
    IsNull,
    ListLit,
    Literal,
    Neg,
    Node,
    Not,
)
from autoresolve.rules.values import norm_datetime

VALUE_TYPE = {
    "category": "string",
    "text": "string",
    "number": "number",
    "boolean": "boolean",
    "datetime": "datetime",
}
_ORDERED = ("number", "string", "datetime")
_LOWER_HINT = {"True": "true", "False": "false", "None": "null", "NULL": "null", "TRUE": "true"}


def _lit_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "datetime"


def _describe(node: Node) -> str:
    if isinstance(node, Field):
        return f"{node.type} field '{node.name}'"
    if isinstance(node, Literal):
        return f"{node.type} {_show(node.value)}"
    return f"a {node.type} expression"


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


class Checker:
    def __init__(self, fields: Mapping[str, str]) -> None:
        unknown = {k: v for k, v in fields.items() if v not in VALUE_TYPE}
        if unknown:
            raise ValueError(
                f"unknown field types {unknown}; expected one of {', '.join(VALUE_TYPE)}"
            )
        self.fields = dict(fields)

    def condition(self, node: Node) -> Node:
        out = self.check(node)
        if out.type != "boolean":
            raise ExprError(self._not_a_condition(out, "a rule's `when`"), out.pos)
        return out

    @staticmethod
    def _not_a_condition(node: Node, where: str) -> str:
        hint = {
            "number": "e.g. `x > 0`",
            "string": 'e.g. `x == "value"` or `x is not null`',
            "datetime": 'e.g. `x >= "2024-01-01"`',
        }.get(node.type, "")
        return f"{where} must be a condition (true/false), but this is {_describe(node)}; {hint}"

    def check(self, node: Node) -> Node:
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _Field(self, node: Field) -> Node:
        if node.name not in self.fields:
            if node.name in _LOWER_HINT:
                msg = f"unknown name '{node.name}'; write {_LOWER_HINT[node.name]}"
            elif node.name.startswith("__") or node.name in ("import", "lambda", "eval", "exec"):
                msg = f"'{node.name}' is not a field; the rule language has no Python names"
            else:
                msg = f"unknown field '{node.name}'." + suggest(node.name, self.fields)
            raise ExprError(msg, node.pos)
        node.type = VALUE_TYPE[self.fields[node.name]]
        return node

    def _Literal(self, node: Literal) -> Node:
        node.type = _lit_type(node.value)
        return node

    def _ListLit(self, node: ListLit) -> Node:
        for item in node.items:
            self.check(item)
        types = {i.type for i in node.items}
        if len(types) > 1:
            raise ExprError(f"a list mixes {' and '.join(sorted(types))} values", node.pos)
        node.type = "list"
        return node

    def _Neg(self, node: Neg) -> Node:
        node.operand = self.check(node.operand)
        self._want(node.operand, "number", "unary minus")
        node.type = "number"
        return node

    def _Not(self, node: Not) -> Node:
        node.operand = self.check(node.operand)
        if node.operand.type != "boolean":
            raise ExprError(self._not_a_condition(node.operand, "`not`'s operand"), node.pos)
        node.type = "boolean"
        return node

    def _BoolOp(self, node: BoolOp) -> Node:
        node.operands = tuple(self.check(o) for o in node.operands)
        for o in node.operands:
            if o.type != "boolean":
                raise ExprError(self._not_a_condition(o, f"each side of `{node.op}`"), o.pos)
        node.type = "boolean"
        return node

    def _Arith(self, node: Arith) -> Node:
        node.left = self.check(node.left)
        node.right = self.check(node.right)
        for side in (node.left, node.right):
            if side.type != "number":
                raise ExprError(
                    f"`{node.op}` works on numbers, but one side is {_describe(side)}", node.pos
                )
        node.type = "number"
        return node

    def _want(self, node: Node, want: str, what: str) -> None:
        if node.type != want:
            raise ExprError(f"{what} needs a {want}, got {_describe(node)}", node.pos)

    def _as_datetime(self, lit: Literal) -> Literal:
        parsed = norm_datetime(lit.value) if isinstance(lit.value, str) else None
        if parsed is None:
            raise ExprError(
                f'{_show(lit.value)} is not an ISO-8601 date/time such as "2024-01-31" or '
                '"2024-01-31T12:00:00Z"',
                lit.pos,
            )
        out = Literal(lit.pos, parsed)
        out.type = "datetime"
        return out

    def _unify(self, a: Node, b: Node, where: int, op: str) -> tuple[Node, Node]:
        """Same types on both sides; a string literal next to a datetime is read as a date."""
        if a.type == "datetime" and isinstance(b, Literal) and b.type == "string":
            b = self._as_datetime(b)
        elif b.type == "datetime" and isinstance(a, Literal) and a.type == "string":
            a = self._as_datetime(a)
        if a.type != b.type:
            raise ExprError(
                f"cannot compare {_describe(a)} with {_describe(b)} using `{op}`: the types differ",
                where,
            )
        return a, b

    def _Compare(self, node: Compare) -> Node:
        left, right = self.check(node.left), self.check(node.right)
        node.left, node.right = self._unify(left, right, node.pos, node.op)
        if node.op not in ("==", "!=") and node.left.type not in _ORDERED:
            raise ExprError(
                f"`{node.op}` orders numbers, text or dates, not {node.left.type} values", node.pos
            )
        node.type = "boolean"
        return node

    def _InList(self, node: InList) -> Node:
        node.operand = self.check(node.operand)
        self.check(node.items)
        items = list(node.items.items)
        if node.operand.type == "datetime":
            items = [self._as_datetime(i) if i.type == "string" else i for i in items]
        for i in items:
            if i.type != node.operand.type:
                raise ExprError(
                    f"list item {_show(i.value)} is a {i.type}, but the left side is "
                    f"{_describe(node.operand)}",
                    i.pos,
                )
        node.items = ListLit(node.items.pos, tuple(items))
        node.items.type = "list"
        node.type = "boolean"
        return node

    def _IsNull(self, node: IsNull) -> Node:
        node.operand = self.check(node.operand)
        node.type = "boolean"
        return node

    def _Call(self, node: Call) -> Node:
        func = FUNCS.get(node.func)
        if func is None:
            raise ExprError(
                f"unknown function '{node.func}'."
                + suggest(node.func, FUNCS)
                + " Only the built-in functions can be called (docs/rules.md).",
                node.pos,
            )
        if len(node.args) != len(func.arg_types):
            raise ExprError(
                f"{func.name}() takes {len(func.arg_types)} argument(s), got {len(node.args)}: "
                f"{func.doc}",
                node.pos,
            )
        node.args = tuple(self.check(a) for a in node.args)
        for i, (arg, want) in enumerate(zip(node.args, func.arg_types, strict=True)):
            if (
                i > 0
                and func.literal_tail
                and not (isinstance(arg, Literal) and isinstance(arg.value, str))
            ):
                raise ExprError(
                    f"{func.name}()'s argument {i + 1} must be a literal string: {func.doc}",
                    arg.pos,
                )
            if arg.type != want:
                raise ExprError(
                    f"{func.name}()'s argument {i + 1} must be a {want}, got {_describe(arg)}",
                    arg.pos,
                )
        tail = tuple(a.value for a in node.args[1:]) if func.literal_tail else ()
        node.bound = build(func, tail, node.pos)
        node.type = func.returns
        return node


__all__ = ["VALUE_TYPE", "Checker"]
