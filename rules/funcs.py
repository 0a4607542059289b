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

from autoresolve.rules.errors import ExprError

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
    opts.never_capture = True
    try:
        return re2.compile(pattern, opts)
    except re2.error as exc:
        raise ValueError(
            f"invalid or unsupported regular expression ({exc}); RE2 syntax has no "
            "backreferences or look-around"
        ) from exc


def _fast_search(rx: Any) -> Callable[[str], bool] | None:
    """RE2's matcher without the Python wrapper's span bookkeeping (~6x cheaper per call).

    Uses the wrapper's compiled object (`_regexp.Match`); if a future google-re2 changes that,
    the public `search` is used instead.
    """
    raw = getattr(rx, "_regexp", None)
    anchor = getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None)
    if raw is None or anchor is None or not hasattr(raw, "Match"):
        return None
    unanchored = anchor.UNANCHORED

    def search(s: str) -> bool:
        b = s.encode("utf-8", "surrogatepass")
        return raw.Match(unanchored, b, 0, len(b))[0][0] >= 0

    try:
        probes = ("", "abc", "é", "ABC 123", "\n")
        if all(search(p) == (rx.search(p) is not None) for p in probes):
            return search
    except Exception:  # noqa: S110 - any surprise here means: use the public API
        pass
    return None


def _matches(pattern: str) -> Callable[[str], bool]:
    rx = _compile_regex(pattern)
    fast = _fast_search(rx)
    if fast is not None:
        return fast
    search = rx.search
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


class RegexSet:
    """Several `matches` patterns over the same text, run in one RE2 pass per distinct value.

    The frame evaluator applies each pattern to every distinct value of a text column; with k
    patterns on the same column a set costs about one pass instead of k.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns
        opts = re2.Options()
        opts.max_mem = RE2_MAX_MEM * 4
        opts.log_errors = False
        opts.never_capture = True
        rset = re2.Set.SearchSet(opts)
        for p in patterns:
            rset.Add(p)
        rset.Compile()
        self._set = rset

    def table(self, texts: list[str]) -> Any:
        """bool matrix (k, len(texts) + 1): row i says which texts pattern i finds; the extra last
        column (missing) is all False."""
        import numpy as np

        out = np.zeros((len(self.patterns), len(texts) + 1), dtype=bool)
        raw = getattr(self._set, "_set", None)
        if raw is not None and hasattr(raw, "Match"):
            hit_lists = [raw.Match(t.encode("utf-8", "surrogatepass")) for t in texts]
        else:  # pragma: no cover - a google-re2 without the inner object
            hit_lists = [self._set.Match(t) for t in texts]
        for i, hits in enumerate(hit_lists):
            if hits:
                out[hits, i] = True
        return out


def share_regexes(calls: list[Any], key: Callable[[Any], str]) -> None:
    """Group `matches` calls by their text argument; give groups of ≥2 one RegexSet."""
    groups: dict[str, list[Any]] = {}
    for c in calls:
        groups.setdefault(key(c.args[0]), []).append(c)
    for members in groups.values():
        patterns = sorted({c.args[1].value for c in members})
        if len(patterns) < 2:
            continue
        try:
            rset = RegexSet(patterns)
        except Exception:  # noqa: S112 - a set that RE2 refuses (memory): evaluate one by one
            continue
        index = {p: i for i, p in enumerate(patterns)}
        for c in members:
            c.regex_set = (rset, index[c.args[1].value])
