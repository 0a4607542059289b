"""Vectorised evaluation over a DataFrame: numpy masks, one per rule.

Same meaning as rules.record (see its docstring), reached differently: a text column is factorised
once into integer codes plus its distinct values, and every text operation (==, in, startswith,
matches, lower, len …) runs in Python on the distinct values only, then spreads to the rows through
the codes. Numbers, booleans and datetimes (int64 microseconds) are numpy arrays with a separate
missing mask. Raw values are read through the same normalisers as the per-record path
(rules.values), which is what makes the two evaluators agree on odd inputs.
"""

from __future__ import annotations

import numbers
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    children,
    unparse,
)
from autoresolve.rules.values import (
    _MAX_DT,
    _MIN_DT,
    datetime_to_us,
    norm_boolean,
    norm_datetime,
    norm_number,
    norm_string,
)

try:  # pandas internals: a faster path for object text columns, optional
    from pandas._libs.hashtable import StringHashTable as _StringHashTable
    from pandas._libs.lib import is_string_array as _is_string_array
except ImportError:  # pragma: no cover
    _StringHashTable = None
    _is_string_array = None

_MIN_US = datetime_to_us(_MIN_DT)
_MAX_US = datetime_to_us(_MAX_DT)
_CMP = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SWAP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(slots=True)
class Arr:
    """Numbers (float64), booleans (bool) or datetimes (int64 µs); scalars broadcast."""

    values: Any
    missing: Any


@dataclass(slots=True)
class Txt:
    """Text as codes into distinct values; code -1 is missing. Scalars broadcast."""

    codes: Any  # small ints (int16/int32) for fast comparisons, or a scalar
    uniques: list[str]
    base: Txt | None = None  # the column these codes came from (lower(x) shares x's codes)
    wide: Any = None  # codes + 1 as intp, made on the first gather and kept on the base

    def gather(self, table: np.ndarray) -> Any:
        """table[code] per row; the table's last entry is for missing (code -1).

        np.take converts int16 indices to intp on every call, and a negative index takes a
        branch that mispredicts when many rows are missing (5x slower with 30% nulls). So the
        first gather keeps the codes shifted by one as intp, and the table is rotated to match.
        """
        root = self.base or self
        if not isinstance(root.codes, np.ndarray):
            return np.take(table, root.codes)
        if root.wide is None:
            wide = root.codes.astype(np.intp)
            wide += 1
            root.wide = wide
        return np.take(np.roll(table, 1), root.wide)


Mask = Any  # np.ndarray[bool] of the frame's length, or a Python bool (constant)


class FrameCtx:
    """One evaluation over one frame: columns are read and normalised at most once."""

    def __init__(self, df: pd.DataFrame, types: dict[str, str]) -> None:
        self.df = df
        self.n = len(df)
        self.types = types
        self._cache: dict[str, Arr | Txt] = {}
        self.memo: dict[str, Any] = {}  # conditions and values that several rules share

    def column(self, name: str) -> Arr | Txt:
        col = self._cache.get(name)
        if col is None:
            vtype = self.types[name]
            series = self.df[name] if name in self.df.columns else None
            if isinstance(series, pd.DataFrame):
                raise ValueError(f"the frame has more than one column named '{name}'")
            col = _read_column(series, vtype)
            self._cache[name] = col
        return col

    def full(self, mask: Mask) -> np.ndarray:
        if isinstance(mask, np.ndarray) and mask.shape == (self.n,):
            return mask
        return np.broadcast_to(np.asarray(mask, dtype=bool), (self.n,))


def _normalised_uniques(
    series: pd.Series, norm: Callable[[Any], Any]
) -> tuple[np.ndarray, list[Any]]:
    """Codes per row and the normalised distinct values (None where a value reads as missing).

    pandas factorises by Python equality, which merges True with 1 and 1.0 (and refuses
    unhashable cells). When an object column's distinct values show that this may have happened
    (a boolean, or a number equal to 0 or 1), the column is normalised row by row instead, so
    each row gets exactly what the per-record normaliser gives it.
    """
    fast = None
    if norm is norm_string:
        fast = _object_text_codes(series) if series.dtype == object else _arrow_codes(series)
    if fast is not None:
        return fast[0], [norm(u) for u in fast[1]]
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells
        return _row_by_row(series, norm)
    # to_numpy(object).tolist(): iterating an Arrow-backed array element by element is slow
    values = uniques.to_numpy(dtype=object) if hasattr(uniques, "to_numpy") else uniques
    raw = np.asarray(values, dtype=object).tolist()
    # Only text cares: every other normaliser maps True, 1 and 1.0 to the same value anyway.
    if norm is norm_string and series.dtype == object and any(_may_merge(u) for u in raw):
        return _row_by_row(series, norm)
    return np.asarray(codes, dtype=np.intp), [norm(u) for u in raw]


def _object_text_codes(series: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """Codes of an object column holding only text and missing values, hashed as UTF-8.

    pandas picks its generic object hash table when a column has any None; its text table
    (used here directly) is 20-30% faster and gives the same codes. It would quietly treat a
    non-text cell as missing, so it runs only after the column is checked to be all text.
    """
    if _StringHashTable is None:
        return None
    values = series.to_numpy(dtype=object)
    if not _is_string_array(values, skipna=True):
        return None
    uniques, codes = _StringHashTable(64).factorize(values, na_sentinel=-1)
    return codes, list(uniques)


def _arrow_codes(series: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """Codes and distinct values of an Arrow-backed text column straight from Arrow.

    Codes in first-seen order like pd.factorize's, without its detours (fill_null, an int64
    copy of the codes): 15-25% less than pd.factorize on a million rows. A null is one of the
    distinct values (None), which the caller turns into code -1. None when the column is not
    Arrow text.
    """
    chunked = getattr(series.array, "_pa_array", None)
    if chunked is None or not isinstance(series.dtype, pd.StringDtype):
        return None
    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    if isinstance(chunked, pa.ChunkedArray):
        if chunked.num_chunks == 0:
            return np.zeros(0, dtype=np.intp), []
        # one dictionary for all rows (Arrow cannot unify per-chunk dictionaries with nulls)
        chunked = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
    encoded = pc.dictionary_encode(chunked, null_encoding="encode")
    indices, dictionary = encoded.indices, encoded.dictionary
    return indices.to_numpy(zero_copy_only=False), dictionary.to_pylist()


def _compact(codes: Any, distinct: int) -> np.ndarray:
    """Codes in the smallest signed int type that holds them: comparisons stream less memory."""
    dtype = np.int16 if distinct < 32_000 else np.int32
    return np.asarray(codes).astype(dtype, copy=False)


def _may_merge(u: Any) -> bool:
    if isinstance(u, bool | np.bool_):
        return True
    if isinstance(u, numbers.Number) and not isinstance(u, str):
        try:
            return bool(u == 0 or u == 1)
        except (TypeError, ValueError):
            return True
    return False


def _row_by_row(series: pd.Series, norm: Callable[[Any], Any]) -> tuple[np.ndarray, list[Any]]:
    normed_rows = [norm(v) for v in series.to_numpy(dtype=object)]
    codes, uniques = pd.factorize(pd.Series(normed_rows, dtype=object), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), list(uniques)


def _read_column(series: pd.Series | None, vtype: str) -> Arr | Txt:
    if series is None:
        if vtype == "string":
            return Txt(np.intp(-1), [])
        fill = {"number": np.float64(np.nan), "boolean": np.False_, "datetime": np.int64(0)}
        return Arr(fill[vtype], np.True_)
    dtype = series.dtype
    if vtype == "string":
        codes, normed = _normalised_uniques(series, norm_string)
        codes = _compact(codes, len(normed))
        nulls = [i for i, u in enumerate(normed) if u is None]
        if len(nulls) > _FEW:
            remap = np.array([-1 if u is None else i for i, u in enumerate(normed)] + [-1])
            codes = np.take(remap.astype(codes.dtype), codes)
        else:
            # code k becomes -1 by subtracting (k + 1) where it occurs: plain arithmetic runs
            # ~20x faster than np.where or a masked assignment on scattered nulls
            for k in nulls:
                step = np.multiply(codes == k, codes.dtype.type(k + 1), dtype=codes.dtype)
                codes = codes - step
        if nulls:
            normed = ["" if u is None else u for u in normed]
        return Txt(codes, normed)
    if vtype == "number":
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            values = series.to_numpy(dtype=np.float64)
            return Arr(values, np.isnan(values))
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "fiub":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            return Arr(values, np.isnan(values))
        return _via_uniques(series, norm_number, np.float64, np.nan)
    if vtype == "boolean":
        if isinstance(dtype, np.dtype) and dtype.kind == "b":
            return Arr(series.to_numpy(), np.zeros(len(series), dtype=bool))
        if isinstance(dtype, np.dtype) and dtype.kind == "f":  # 1.0 / 0.0 / NaN (model.records)
            raw = series.to_numpy()
            return Arr(raw == 1.0, ~((raw == 1.0) | (raw == 0.0)))
        if isinstance(dtype, pd.BooleanDtype):
            return Arr(
                series.to_numpy(dtype=bool, na_value=False), series.isna().to_numpy(dtype=bool)
            )
        return _via_uniques(series, norm_boolean, bool, False)
    # datetime
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        raw = series.to_numpy()
        missing = np.isnat(raw)
        us = raw.astype("datetime64[us]").view(np.int64)
        missing |= (us < _MIN_US) | (us > _MAX_US)
        return Arr(np.where(missing, 0, us) if missing.any() else us, missing)

    def to_us(v: Any) -> int | None:
        d = norm_datetime(v)
        return None if d is None else datetime_to_us(d)

    return _via_uniques(series, to_us, np.int64, 0)


def _via_uniques(series: pd.Series, norm: Callable[[Any], Any], dtype: Any, fill: Any) -> Arr:
    codes, normed = _normalised_uniques(series, norm)
    miss = np.array([v is None for v in normed] + [True], dtype=bool)
    if dtype is np.float64:
        miss[:-1] |= np.array([v is not None and v != v for v in normed], dtype=bool)
    vals = np.array([fill if v is None else v for v in normed] + [fill], dtype=dtype)
    return Arr(np.take(vals, codes), np.take(miss, codes))


# --- compilation ------------------------------------------------------------------------------

CondFn = Callable[[FrameCtx], Mask]
ValFn = Callable[[FrameCtx], "Arr | Txt"]


def _memoised(key: str, fn: Callable[[FrameCtx], Any]) -> Callable[[FrameCtx], Any]:
    """`fn` computed once per frame: a sub-expression several rules share."""

    def memoised(ctx: FrameCtx) -> Any:
        done = ctx.memo.get(key)
        if done is None:
            done = fn(ctx)
            ctx.memo[key] = done
        return done

    return memoised


def compile_condition(node: Node, shared: frozenset[str] = frozenset()) -> CondFn:
    """A checked condition → fn(ctx) -> mask. Comparisons, `in`, `is null` and predicates whose
    key is in `shared` (they occur more than once in the rule set: error_code == "X" …) are
    memoised per frame, so each is computed once."""
    key = "cond:" + unparse(node) if isinstance(node, Compare | InList | IsNull | Call) else ""
    if key in shared:
        return _memoised(key, _compile_condition(node, shared))
    return _compile_condition(node, shared)


def _compile_condition(node: Node, shared: frozenset[str] = frozenset()) -> CondFn:
    if isinstance(node, Field):
        name = node.name

        def bool_field(ctx: FrameCtx) -> Mask:
            col = ctx.column(name)
            return col.values & ~col.missing  # type: ignore[union-attr]

        return bool_field
    if isinstance(node, Literal):
        const = bool(node.value)
        return lambda ctx: const
    if isinstance(node, Not):
        inner = compile_condition(node.operand, shared)
        return lambda ctx: np.logical_not(inner(ctx))
    if isinstance(node, BoolOp):
        parts = [compile_condition(o, shared) for o in node.operands]
        combine = np.logical_and if node.op == "and" else np.logical_or

        def boolop(ctx: FrameCtx) -> Mask:
            acc = parts[0](ctx)
            for p in parts[1:]:
                acc = combine(acc, p(ctx))
            return acc

        return boolop
    if isinstance(node, Compare):
        return _compare(node, shared)
    if isinstance(node, InList):
        return _in_list(node, shared)
    if isinstance(node, IsNull):
        value = compile_value(node.operand, shared)
        negate = node.negate

        def is_null(ctx: FrameCtx) -> Mask:
            v = value(ctx)
            missing = v.codes < 0 if isinstance(v, Txt) else v.missing
            return np.logical_not(missing) if negate else missing

        return is_null
    if isinstance(node, Call) and node.regex_set is not None:
        arg = compile_value(node.args[0], shared)
        rset, col = node.regex_set
        key = f"set:{id(rset)}:{unparse(node.args[0])}"

        def call_set(ctx: FrameCtx) -> Mask:
            v = arg(ctx)
            assert isinstance(v, Txt)
            table = ctx.memo.get(key)
            if table is None:
                table = rset.table(v.uniques)
                ctx.memo[key] = table
            return _spread(v, table[col])

        return call_set
    if isinstance(node, Call):
        arg = compile_value(node.args[0], shared)
        pred = node.bound

        def call_pred(ctx: FrameCtx) -> Mask:
            v = arg(ctx)
            assert isinstance(v, Txt)
            return _lut(v, [pred(u) for u in v.uniques])

        return call_pred
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover


def _lut(v: Txt, per_unique: list[bool]) -> Mask:
    return _spread(v, np.array([*per_unique, False], dtype=bool))


_FEW = 8  # up to this many distinct values, equality tests on int16 codes beat a gather


def _spread(v: Txt, table: np.ndarray) -> Mask:
    """Spread a per-distinct-value boolean (last entry: missing, False) to the rows."""
    codes = v.codes
    if not isinstance(codes, np.ndarray):
        return v.gather(table)
    # Python ints, not numpy int64: an int64 scalar would promote the int16 codes (a full copy).
    hits = np.flatnonzero(table).tolist()
    if not hits:
        return np.zeros(codes.shape, dtype=bool)
    if len(hits) <= _FEW:
        out = codes == hits[0]
        for h in hits[1:]:
            out |= codes == h
        return out
    misses = np.flatnonzero(~table[:-1]).tolist()
    if len(misses) <= _FEW:
        out = codes >= 0
        for m in misses:
            out &= codes != m
        return out
    return v.gather(table)


def _compare(node: Compare, shared: frozenset[str] = frozenset()) -> CondFn:
    op = node.op
    left, right = node.left, node.right
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _SWAP[op]
    fn = _CMP[op]
    lf = compile_value(left, shared)
    if node.left.type == "string" and isinstance(right, Literal):
        c = right.value

        def text_vs_const(ctx: FrameCtx) -> Mask:
            v = lf(ctx)
            assert isinstance(v, Txt)
            if op == "==":
                hits = [i for i, u in enumerate(v.uniques) if u == c]
                if len(hits) == 1 and isinstance(v.codes, np.ndarray):
                    return v.codes == hits[0]
            return _lut(v, [fn(u, c) for u in v.uniques])

        return text_vs_const
    if isinstance(left, Field) and left.type == "number" and isinstance(right, Literal):
        # A number column read from the frame holds NaN exactly where it is missing, and NaN
        # compares false, so only != needs the mask.
        name, c = left.name, float(right.value)

        def number_vs_const(ctx: FrameCtx) -> Mask:
            col = ctx.column(name)
            assert isinstance(col, Arr)
            with np.errstate(invalid="ignore"):
                out = fn(col.values, c)
            return out & ~col.missing if op == "!=" else out

        return number_vs_const
    rf = compile_value(right, shared)
    if node.left.type == "string":

        def text_vs_text(ctx: FrameCtx) -> Mask:
            a, b = lf(ctx), rf(ctx)
            assert isinstance(a, Txt) and isinstance(b, Txt)
            order = sorted(set(a.uniques) | set(b.uniques))
            rank = {u: i for i, u in enumerate(order)}
            ra = a.gather(np.array([rank[u] for u in a.uniques] + [-1], dtype=np.intp))
            rb = b.gather(np.array([rank[u] for u in b.uniques] + [-1], dtype=np.intp))
            return fn(ra, rb) & (ra >= 0) & (rb >= 0)

        return text_vs_text

    def arr_vs_arr(ctx: FrameCtx) -> Mask:
        a, b = lf(ctx), rf(ctx)
        assert isinstance(a, Arr) and isinstance(b, Arr)
        with np.errstate(invalid="ignore"):
            out = fn(a.values, b.values)
        return _unless_missing(out, a.missing, b.missing)

    return arr_vs_arr


def _unless_missing(out: Any, *missing: Any) -> Mask:
    """out & ~m for each missing mask, in place: for booleans `x > m` is `x and not m`, one
    pass and no temporaries (a constant False mask, e.g. a literal's, costs nothing)."""
    if not (isinstance(out, np.ndarray) and out.dtype == bool and out.ndim == 1):
        for m in missing:
            out = out & ~m
        return out
    for m in missing:
        if isinstance(m, np.ndarray) and m.shape == out.shape:
            np.greater(out, m, out=out)
        elif np.ndim(m) == 0:
            if bool(m):
                out[:] = False
        else:
            out = out & ~m
    return out


def _in_list(node: InList, shared: frozenset[str] = frozenset()) -> CondFn:
    items = [i.value for i in node.items.items]
    negate = node.negate
    value = compile_value(node.operand, shared)
    if node.operand.type == "string":
        members = frozenset(items)

        def text_in(ctx: FrameCtx) -> Mask:
            v = value(ctx)
            assert isinstance(v, Txt)
            if negate:
                return _lut(v, [u not in members for u in v.uniques])
            return _lut(v, [u in members for u in v.uniques])

        return text_in
    if node.operand.type == "datetime":
        items = [datetime_to_us(i) for i in items]
    dtype = {"number": np.float64, "boolean": bool, "datetime": np.int64}[node.operand.type]
    wanted = np.array(items, dtype=dtype)

    def arr_in(ctx: FrameCtx) -> Mask:
        v = value(ctx)
        assert isinstance(v, Arr)
        hit = np.isin(v.values, wanted)
        if negate:
            hit = ~hit
        return hit & ~v.missing

    return arr_in


def compile_value(node: Node, shared: frozenset[str] = frozenset()) -> ValFn:
    """A checked value → fn(ctx) -> Arr | Txt; computed values in `shared` are memoised."""
    computed = isinstance(node, Arith | Neg | Call) and node.type != "boolean"
    key = "value:" + unparse(node) if computed else ""
    if key in shared:
        return _memoised(key, _compile_value(node, shared))
    return _compile_value(node, shared)


def _compile_value(node: Node, shared: frozenset[str] = frozenset()) -> ValFn:
    if isinstance(node, Field):
        name = node.name
        return lambda ctx: ctx.column(name)
    if isinstance(node, Literal):
        const = _literal(node)
        return lambda ctx: const
    if node.type == "boolean":
        cond = compile_condition(node, shared)
        return lambda ctx: Arr(cond(ctx), np.False_)
    if isinstance(node, Neg):
        inner = compile_value(node.operand, shared)

        def neg(ctx: FrameCtx) -> Arr:
            v = inner(ctx)
            assert isinstance(v, Arr)
            return Arr(np.negative(v.values), v.missing)

        return neg
    if isinstance(node, Arith):
        return _arith(node, shared)
    if isinstance(node, Call):
        return _call_value(node, shared)
    raise TypeError(f"not a value: {node!r}")  # pragma: no cover


def _literal(node: Literal) -> Arr | Txt:
    if node.type == "string":
        return Txt(np.intp(0), [node.value])
    if node.type == "number":
        return Arr(np.float64(node.value), np.False_)
    if node.type == "boolean":
        return Arr(np.bool_(node.value), np.False_)
    return Arr(np.int64(datetime_to_us(node.value)), np.False_)


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "%": np.mod}


def _arith(node: Arith, shared: frozenset[str] = frozenset()) -> ValFn:
    lf, rf = compile_value(node.left, shared), compile_value(node.right, shared)
    ufunc = _ARITH[node.op]
    divides = node.op in ("/", "%")

    def arith(ctx: FrameCtx) -> Arr:
        a, b = lf(ctx), rf(ctx)
        assert isinstance(a, Arr) and isinstance(b, Arr)
        with np.errstate(all="ignore"):
            out = ufunc(a.values, b.values)
        missing = a.missing | b.missing | np.isnan(out)
        if divides:
            missing = missing | (b.values == 0)
        return Arr(out, missing)

    return arith


def _call_value(node: Call, shared: frozenset[str] = frozenset()) -> ValFn:
    arg = compile_value(node.args[0], shared)
    fn = node.bound
    name = node.func
    returns = node.type

    def call(ctx: FrameCtx) -> Arr | Txt:
        v = arg(ctx)
        if isinstance(v, Txt):
            if returns == "string":
                return Txt(v.codes, [fn(u) for u in v.uniques], v.base or v)
            table = np.array([fn(u) for u in v.uniques] + [np.nan], dtype=np.float64)
            return Arr(v.gather(table), np.asarray(v.codes) < 0)
        if name == "abs":
            return Arr(np.abs(v.values), v.missing)
        stamps = pd.DatetimeIndex(np.asarray(v.values, dtype=np.int64).reshape(-1).view("M8[us]"))
        part = {
            "year": stamps.year,
            "month": stamps.month,
            "day": stamps.day,
            "hour": stamps.hour,
            "weekday": stamps.dayofweek,
        }[name]
        out = np.asarray(part, dtype=np.float64)
        if np.ndim(v.values) == 0:
            out = out[0]
        return Arr(out, v.missing)

    return call


def shared_keys(exprs: list[Node]) -> frozenset[str]:
    """Memo keys of the conditions and computed values that occur more than once."""
    seen: Counter[str] = Counter()
    stack = list(exprs)
    while stack:
        n = stack.pop()
        if isinstance(n, Compare | InList | IsNull | Call) and n.type == "boolean":
            seen["cond:" + unparse(n)] += 1
        elif isinstance(n, Arith | Neg | Call):
            seen["value:" + unparse(n)] += 1
        stack.extend(children(n))
    return frozenset(k for k, c in seen.items() if c > 1)
