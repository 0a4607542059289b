"""The fixed table of functions a rule may call. Nothing outside this table is callable.

Each entry carries one Python implementation on plain values. The per-record evaluator calls it
directly; the vectorised evaluator applies the same function to the *distinct* values of a column
(then spreads the result with the column's codes), so both evaluators share one meaning.
Pattern arguments must be literals: a regular expression is compiled once, at load, by RE2
(linear time, bounded memory) so no rule can hang the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

from rules.errors import ExprError

MAX_PATTERN_CHARS = 500
RE2_MAX_MEM = 8 << 20


@dataclass(frozen=True)
class Func:
    name: str
    arg_types: tuple[str, ...]  # "string" | "number" | "datetime"
    returns: str  # "boolean" for predicates
    literal_tail: bool  # arguments after the first must be string literals
    doc: str
    make: Callable[..., Callable[[Any], Any]]  # (*literal_args) -> fn(first_arg_value)


def _compile_regex(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    opts = re2.Options()
    opts.max_mem = RE2_MAX_MEM
    opts.log_errors = False
    try:
        return re2.compile(pattern, opts)
    except re2.error as exc:
        raise ValueError(
            f"invalid or unsupported regular expression ({exc}); RE2 syntax has no "
            "backreferences or look-around"
        ) from exc


def _matches(pattern: str) -> Callable[[str], bool]:
    search = _compile_regex(pattern).search
    return lambda s: search(s) is not None


def _startswith(prefix: str) -> Callable[[str], bool]:
    return lambda s: s.startswith(prefix)


def _endswith(suffix: str) -> Callable[[str], bool]:
    return lambda s: s.endswith(suffix)


def _contains(part: str) -> Callable[[str], bool]:
    return lambda s: part in s


def _const(fn: Callable[[Any], Any]) -> Callable[[], Callable[[Any], Any]]:
    return lambda: fn


FUNCS: dict[str, Func] = {
    f.name: f
    for f in (
        Func(
            "startswith",
            ("string", "string"),
            "boolean",
            True,
            'startswith(x, "abc"): x begins with the literal text',
            _startswith,
        ),
        Func(
            "endswith",
            ("string", "string"),
            "boolean",
            True,
            'endswith(x, ".io"): x ends with the literal text',
            _endswith,
        ),
        Func(
            "contains",
            ("string", "string"),
            "boolean",
            True,
            'contains(x, "urgent"): the literal text occurs in x',
            _contains,
        ),
        Func(
            "matches",
            ("string", "string"),
            "boolean",
            True,
            'matches(x, "^[A-Z]{2}-\\\\d+$"): RE2 regular expression found in x (search; '
            "anchor with ^ $)",
            _matches,
        ),
        Func("lower", ("string",), "string", False, "lower(x): lower-case text", _const(str.lower)),
        Func("upper", ("string",), "string", False, "upper(x): upper-case text", _const(str.upper)),
        Func(
            "trim",
            ("string",),
            "string",
            False,
            "trim(x): text without leading/trailing white space",
            _const(str.strip),
        ),
        Func(
            "len",
            ("string",),
            "number",
            False,
            "len(x): number of characters",
            _const(lambda s: float(len(s))),
        ),
        Func("abs", ("number",), "number", False, "abs(x): absolute value", _const(abs)),
        Func("year", ("datetime",), "number", False, "year(t)", _const(lambda d: float(d.year))),
        Func(
            "month",
            ("datetime",),
            "number",
            False,
            "month(t): 1–12",
            _const(lambda d: float(d.month)),
        ),
        Func(
            "day",
            ("datetime",),
            "number",
            False,
            "day(t): day of month 1–31",
            _const(lambda d: float(d.day)),
        ),
        Func(
            "weekday",
            ("datetime",),
            "number",
            False,
            "weekday(t): Monday 0 … Sunday 6",
            _const(lambda d: float(d.weekday())),
        ),
        Func(
            "hour", ("datetime",), "number", False, "hour(t): 0–23", _const(lambda d: float(d.hour))
        ),
    )
}


def build(func: Func, literal_args: tuple[str, ...], pos: int) -> Callable[[Any], Any]:
    """The one-argument function a call denotes, its literal arguments bound (regex compiled)."""
    try:
        return func.make(*literal_args)
    except ValueError as exc:
        raise ExprError(f"{func.name}(): {exc}", pos) from exc
