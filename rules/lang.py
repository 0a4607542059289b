"""The `when` language: tokenizer, syntax tree and parser.

Parsed once into a tree of plain dataclasses; nothing is ever evaluated by Python's own machinery.
The grammar has no attribute access, subscripts, lambdas, comprehensions or imports, so those are
not "forbidden" by a blacklist: they cannot be written. Size and nesting are bounded before any
recursion can run away, so a hostile file is refused quickly with a message instead of hanging or
overflowing the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from autoresolve.rules.errors import ExprError

MAX_EXPR_CHARS = 20_000
MAX_TOKENS = 4_000
MAX_DEPTH = 40
MAX_TREE_DEPTH = 100

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")
ARITH_OPS = ("+", "-", "*", "/", "%")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d[\d_]{0,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][+-]?\d{1,4})?)
  | (?P<string>"(?:[^"\\\n]|\\.){0,5000}"|'(?:[^'\\\n]|\\.){0,5000}')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]{0,200})
  | (?P<quoted>`[^`\n]{1,200}`)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)

_HINTS = {
    "=": "use == to compare",
    "&": "use `and`",
    "&&": "use `and`",
    "|": "use `or`",
    "||": "use `or`",
    "!": "use `not` (or != to compare)",
    ".": "attribute access is not part of the rule language; use a function such as lower(x)",
    "{": "braces are not part of the rule language; lists are written [a, b]",
    "}": "braces are not part of the rule language",
    ":": "colons (slices, lambdas, dicts) are not part of the rule language",
    ";": "one expression per rule; combine conditions with `and`",
    "@": "decorators/operators with @ are not part of the rule language",
    "^": 'use `matches(field, "^...")` for patterns; there is no xor',
    "~": "there is no bitwise operator; use `not`",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number string name op end
    text: str
    pos: int
    value: Any = None


def _unescape(body: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(
                    f"unknown escape \\{nxt} in a string; write \\\\ for a backslash "
                    "(in regular expressions: matches(x, 'a\\\\d'))",
                    pos + i,
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(
            f"expression is {len(text):,} characters long; the limit is {MAX_EXPR_CHARS:,}. "
            "Split it into several rules or use `in [...]` lists.",
            0,
        )
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            two = text[pos : pos + 2]
            hint = _HINTS.get(two) or _HINTS.get(ch)
            if ch in "\"'":
                raise ExprError("unterminated or over-long string literal (limit 5,000 chars)", pos)
            if ch == "`":
                raise ExprError("unterminated `quoted field name`", pos)
            shown = repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}"
            raise ExprError(f"unexpected {shown}" + (f": {hint}" if hint else ""), pos)
        kind = m.lastgroup or ""
        tok_text = m.group()
        if kind != "ws":
            if len(tokens) >= MAX_TOKENS:
                raise ExprError(
                    f"expression has more than {MAX_TOKENS:,} tokens; split it into several rules",
                    pos,
                )
            if kind == "number":
                value: Any = float(tok_text.replace("_", ""))
                tokens.append(Token("number", tok_text, pos, value))
            elif kind == "string":
                tokens.append(Token("string", tok_text, pos, _unescape(tok_text[1:-1], pos + 1)))
            elif kind == "quoted":
                tokens.append(Token("field", tok_text, pos, tok_text[1:-1]))
            elif kind == "name":
                tokens.append(Token("kw" if tok_text in KEYWORDS else "name", tok_text, pos))
            else:
                tokens.append(Token("op", tok_text, pos))
        pos = m.end()
    tokens.append(Token("end", "", n))
    return tokens


# --- syntax tree -----------------------------------------------------------------------------
# `type` is filled in by the checker (rules.check); the parser leaves it empty.


@dataclass(slots=True, eq=False)
class Node:
    pos: int
    type: str = field(default="", kw_only=True)


@dataclass(slots=True, eq=False)
class Field(Node):
    name: str


@dataclass(slots=True, eq=False)
class Literal(Node):
    value: Any  # float | str | bool | datetime (after checking against a datetime field)


@dataclass(slots=True, eq=False)
class ListLit(Node):
    items: tuple[Literal, ...]


@dataclass(slots=True, eq=False)
class Neg(Node):
    operand: Node


@dataclass(slots=True, eq=False)
class Not(Node):
    operand: Node


@dataclass(slots=True, eq=False)
class BoolOp(Node):
    op: str  # and | or
    operands: tuple[Node, ...]


@dataclass(slots=True, eq=False)
class Arith(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True, eq=False)
class InList(Node):
    operand: Node
    items: ListLit
    negate: bool


@dataclass(slots=True, eq=False)
class IsNull(Node):
    operand: Node
    negate: bool


@dataclass(slots=True, eq=False)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    bound: Any = field(default=None, kw_only=True)  # the checked function, literals bound
    regex_set: Any = field(default=None, kw_only=True)  # (RegexSet, index) for batched regexes


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg | Not):
        return (node.operand,)
    if isinstance(node, BoolOp):
        return node.operands
    if isinstance(node, Arith | Compare):
        return (node.left, node.right)
    if isinstance(node, InList):
        return (node.operand, node.items)
    if isinstance(node, IsNull):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    return ()


def depth(node: Node) -> int:
    """Tree depth, computed without recursion (the tree is not trusted yet)."""
    best = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in children(n))
    return best


def fields_of(node: Node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Field):
            out.add(n.name)
        stack.extend(children(n))
    return out


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.nest = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.toks[self.i]
        return t.kind == kind and (text is None or t.text == text)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            raise ExprError(f"expected {what}, found {self._show(self.tok)}", self.tok.pos)
        return self.take()

    @staticmethod
    def _show(t: Token) -> str:
        return "the end of the expression" if t.kind == "end" else f"'{t.text[:40]}'"

    def enter(self, pos: int) -> None:
        self.nest += 1
        if self.nest > MAX_DEPTH:
            raise ExprError(
                f"expression is nested more than {MAX_DEPTH} levels deep; simplify it", pos
            )

    def leave(self) -> None:
        self.nest -= 1

    def parse(self) -> Node:
        if self.at("end"):
            raise ExprError('empty expression; write a condition such as country == "US"', 0)
        node = self.or_()
        if not self.at("end"):
            t = self.tok
            if t.kind == "op" and t.text == "(":
                msg = "unexpected '(': only the built-in functions can be called"
            elif t.kind == "op" and t.text == "[":
                msg = "subscripts are not part of the rule language"
            elif t.kind in ("name", "field", "number", "string") or t.kind == "kw":
                msg = f"unexpected {self._show(t)}: missing `and` / `or` or an operator?"
            else:
                msg = f"unexpected {self._show(t)}"
            raise ExprError(msg, t.pos)
        return node

    def or_(self) -> Node:
        first = self.and_()
        items = [first]
        while self.at("kw", "or"):
            self.take()
            items.append(self.and_())
        return first if len(items) == 1 else BoolOp(first.pos, "or", tuple(items))

    def and_(self) -> Node:
        first = self.not_()
        items = [first]
        while self.at("kw", "and"):
            self.take()
            items.append(self.not_())
        return first if len(items) == 1 else BoolOp(first.pos, "and", tuple(items))

    def not_(self) -> Node:
        if self.at("kw", "not"):
            t = self.take()
            self.enter(t.pos)
            operand = self.not_()
            self.leave()
            return Not(t.pos, operand)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        t = self.tok
        if t.kind == "op" and t.text in COMPARE_OPS:
            self.take()
            right = self.additive()
            node: Node = Compare(t.pos, t.text, left, right)
        elif t.kind == "kw" and t.text == "in":
            self.take()
            node = InList(t.pos, left, self.list_operand(), negate=False)
        elif t.kind == "kw" and t.text == "not" and self.toks[self.i + 1].text == "in":
            self.take()
            self.take()
            node = InList(t.pos, left, self.list_operand(), negate=True)
        elif t.kind == "kw" and t.text == "is":
            self.take()
            negate = False
            if self.at("kw", "not"):
                self.take()
                negate = True
            if not self.at("kw", "null"):
                raise ExprError(
                    f"expected `null` after `is{' not' if negate else ''}`, found "
                    f"{self._show(self.tok)}; to compare values use ==",
                    self.tok.pos,
                )
            self.take()
            node = IsNull(t.pos, left, negate)
        else:
            return left
        nxt = self.tok
        if (nxt.kind == "op" and nxt.text in COMPARE_OPS) or (
            nxt.kind == "kw" and nxt.text in ("in", "is")
        ):
            raise ExprError("comparisons do not chain; write `a < b and b < c`", nxt.pos)
        return node

    def list_operand(self) -> ListLit:
        t = self.tok
        if not self.at("op", "["):
            raise ExprError(
                f'`in` takes a list of literals such as ["a", "b"], found {self._show(t)}; '
                'for text search use contains(field, "...")',
                t.pos,
            )
        lst = self.primary()
        assert isinstance(lst, ListLit)
        return lst

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            t = self.take()
            left = Arith(t.pos, t.text, left, self.multiplicative())
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            t = self.take()
            if self.at("op", "*") or self.at("op", "/"):
                raise ExprError("`**` and `//` are not part of the rule language", t.pos)
            left = Arith(t.pos, t.text, left, self.unary())
        return left

    def unary(self) -> Node:
        if self.at("op", "-"):
            t = self.take()
            self.enter(t.pos)
            operand = self.unary()
            self.leave()
            if isinstance(operand, Literal) and isinstance(operand.value, float):
                return Literal(t.pos, -operand.value)
            return Neg(t.pos, operand)
        if self.at("op", "+"):
            raise ExprError("unary + is not part of the rule language", self.tok.pos)
        node = self.primary()
        t = self.tok
        if t.kind == "op" and t.text == "[":
            raise ExprError("subscripts are not part of the rule language", t.pos)
        if t.kind == "op" and t.text == "(":
            raise ExprError("only the built-in functions can be called (see docs/rules.md)", t.pos)
        return node

    def primary(self) -> Node:
        t = self.take()
        if t.kind == "number":
            return Literal(t.pos, t.value)
        if t.kind == "string":
            return Literal(t.pos, t.value)
        if t.kind == "field":
            return Field(t.pos, t.value)
        if t.kind == "kw":
            if t.text == "true":
                return Literal(t.pos, True)
            if t.text == "false":
                return Literal(t.pos, False)
            if t.text == "null":
                raise ExprError(
                    "null cannot be used as a value; write `field is null` or `field is not null`",
                    t.pos,
                )
            raise ExprError(f"unexpected keyword '{t.text}'", t.pos)
        if t.kind == "name":
            if self.at("op", "("):
                return self.call(t)
            return Field(t.pos, t.text)
        if t.kind == "op" and t.text == "(":
            self.enter(t.pos)
            if self.at("op", ")"):
                raise ExprError("empty parentheses: expected an expression", t.pos)
            inner = self.or_()
            if self.at("op", ","):
                raise ExprError("tuples are not part of the rule language", self.tok.pos)
            self.expect("op", ")", "')' to close the '(' opened here")
            self.leave()
            return inner
        if t.kind == "op" and t.text == "[":
            self.enter(t.pos)
            items: list[Literal] = []
            while not self.at("op", "]"):
                item = self.unary()
                if not isinstance(item, Literal):
                    raise ExprError(
                        "list items must be literals (numbers, strings, true/false)", item.pos
                    )
                items.append(item)
                if self.at("op", ","):
                    self.take()
                elif not self.at("op", "]"):
                    raise ExprError(
                        f"expected ',' or ']' in the list, found {self._show(self.tok)}",
                        self.tok.pos,
                    )
            self.take()
            self.leave()
            return ListLit(t.pos, tuple(items))
        raise ExprError(f"expected a value, field or '(', found {self._show(t)}", t.pos)

    def call(self, name: Token) -> Node:
        self.take()  # (
        self.enter(name.pos)
        args: list[Node] = []
        while not self.at("op", ")"):
            args.append(self.or_())
            if self.at("op", ","):
                self.take()
            elif not self.at("op", ")"):
                raise ExprError(
                    f"expected ',' or ')' in the call to {name.text}(), found "
                    f"{self._show(self.tok)}",
                    self.tok.pos,
                )
        self.take()
        self.leave()
        return Call(name.pos, name.text, tuple(args))


def parse(text: str) -> Node:
    """Parse one `when` expression into an (unchecked) syntax tree."""
    if not isinstance(text, str):
        raise ExprError(f"a condition is text, got {type(text).__name__}", 0)
    node = _Parser(tokenize(text)).parse()
    if depth(node) > MAX_TREE_DEPTH:
        raise ExprError(
            f"expression is nested more than {MAX_TREE_DEPTH} levels deep (long chains of "
            "arithmetic count); simplify it",
            0,
        )
    return node


# --- printer ---------------------------------------------------------------------------------

_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if hasattr(value, "isoformat"):
        return '"' + value.isoformat() + '"'
    return repr(value)


def _name(name: str) -> str:
    ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name not in KEYWORDS
    return name if ok else f"`{name}`"


def unparse(node: Node) -> str:
    """Canonical text of a tree: one spelling per meaning (used for the version hash)."""
    text, _ = _unparse(node)
    return text


def _wrap(node: Node, prec: int, strict: bool = False) -> str:
    text, p = _unparse(node)
    return f"({text})" if p < prec or (strict and p == prec) else text


def _unparse(node: Node) -> tuple[str, int]:
    if isinstance(node, Field):
        return _name(node.name), 9
    if isinstance(node, Literal):
        return _lit(node.value), 9
    if isinstance(node, ListLit):
        return "[" + ", ".join(_lit(i.value) for i in node.items) + "]", 9
    if isinstance(node, Call):
        return f"{node.func}(" + ", ".join(unparse(a) for a in node.args) + ")", 9
    if isinstance(node, Neg):
        return "-" + _wrap(node.operand, 7), 7
    if isinstance(node, Not):
        return "not " + _wrap(node.operand, 3), 3
    if isinstance(node, BoolOp):
        p = _PREC[node.op]
        return f" {node.op} ".join(_wrap(o, p + 1) for o in node.operands), p
    if isinstance(node, Arith):
        p = _PREC[node.op]
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p, strict=True)}", p
    if isinstance(node, Compare):
        return f"{_wrap(node.left, 5)} {node.op} {_wrap(node.right, 5)}", 4
    if isinstance(node, InList):
        op = "not in" if node.negate else "in"
        return f"{_wrap(node.operand, 5)} {op} {_unparse(node.items)[0]}", 4
    if isinstance(node, IsNull):
        op = "is not null" if node.negate else "is null"
        return f"{_wrap(node.operand, 5)} {op}", 4
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover
