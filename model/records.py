"""Bring records and tables to the domain's types, or refuse them naming the field.

One representation for everything downstream (rules, features, the policy, the decision log):

| type     | table column (`coerce_frame`)                  | single record (`coerce_record`) |
|----------|------------------------------------------------|---------------------------------|
| category | object dtype: `str`, `None` when missing       | `str` or `None`                 |
| text     | object dtype: `str`, `None` when missing       | `str` or `None`                 |
| number   | float64, NaN when missing                      | `float` or `None`               |
| boolean  | float64: 1.0 / 0.0, NaN when missing           | `bool` or `None`                |
| datetime | datetime64[us, UTC], NaT when missing          | aware `datetime` (UTC) or `None`|

Why float64 for boolean columns: numpy comparisons on it need no mask handling (`col == 1.0` is
False on NaN, which is exactly the rule language's "a comparison with a missing value is false") and
the feature pipeline feeds it to the model as is; pandas' nullable "boolean" dtype would make every
consumer handle `pd.NA`. In a record, `True == 1.0` and `False == 0.0`, so both paths compare alike.

Missing: `None`, NaN, NaT, `pd.NA` and empty or blank strings. In frames, tokens that CSV
writers use for missing (`NaN`, `nan`, `NULL`, `null`, `None`, `NA`, `N/A`) also count as missing in
number, boolean and datetime columns (never in category columns, where `NA` is Namibia). A category
read as integral floats (a CSV column of codes with gaps) is written back without the `.0`.
Category and text values are kept as given apart from surrounding whitespace.

Tables: id → str; label → str; fields absent from the table are added as all-missing so consumers
always see every field; columns the domain does not know are kept unchanged after the known ones.
Numbers must be finite: a non-numeric string or ±inf is refused with the column, row and value.
Records: unknown keys are refused with a suggestion, wrong types name the field, NaN/inf refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain
from autoresolve.rules.errors import suggest

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
MISSING_WORDS = frozenset({"", "nan", "null", "none", "na", "n/a", "nat"})
DATETIME_UNIT = "us"


class RecordError(ValueError):
    """A value that does not fit its field. `field` names it; `row` is the table row, if any."""

    def __init__(self, message: str, *, field: str | None = None, row: Any = None) -> None:
        self.field = field
        self.row = row
        super().__init__(message)


# -- single records ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return type(value).__name__


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _to_str(name: str, value: Any, *, allow_int: bool) -> str | None:
    if value.__class__ is str:  # the common case first (validated JSON input)
        return value.strip() or None
    if value is None or _is_nan(value):
        return None
    if isinstance(value, str):
        s = value.strip()
        return s or None
    if allow_int and isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    raise RecordError(
        f"field '{name}': expected a string{' or an integer code' if allow_int else ''}, "
        f"got {value!r} ({_kind(value)}).",
        field=name,
    )


def _category(name: str) -> Callable[[Any], str | None]:
    return lambda v: _to_str(name, v, allow_int=True)


def _text(name: str) -> Callable[[Any], str | None]:
    return lambda v: _to_str(name, v, allow_int=False)


def _number(name: str) -> Callable[[Any], float | None]:
    def convert(value: Any) -> float | None:
        if value.__class__ is float and math.isfinite(value):  # the common case first
            return value
        if value is None:
            return None
        if isinstance(value, bool | np.bool_):
            raise RecordError(
                f"field '{name}': expected a number, got a boolean ({value!r}).", field=name
            )
        if isinstance(value, int | float | np.integer | np.floating):
            x = float(value)
        elif isinstance(value, str):
            s = value.strip()
            if not s:
                return None
            try:
                x = float(s)
            except ValueError:
                raise RecordError(
                    f"field '{name}': expected a number, got {value!r}.", field=name
                ) from None
        else:
            raise RecordError(
                f"field '{name}': expected a number, got {value!r} ({_kind(value)}).", field=name
            )
        if not math.isfinite(x):
            raise RecordError(
                f"field '{name}': {value!r} is not a finite number; send null for a missing value.",
                field=name,
            )
        return x

    return convert


def _boolean(name: str) -> Callable[[Any], bool | None]:
    def convert(value: Any) -> bool | None:
        if value.__class__ is bool:  # the common case first
            return value
        if value is None or _is_nan(value):
            return None
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            s = value.strip().lower()
            if s in TRUE_WORDS:
                return True
            if s in FALSE_WORDS:
                return False
            if not s:
                return None
        raise RecordError(
            f"field '{name}': expected true or false, got {value!r} ({_kind(value)}).", field=name
        )

    return convert


def _as_utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _datetime(name: str) -> Callable[[Any], datetime | None]:
    def convert(value: Any) -> datetime | None:
        if value is None or value is pd.NaT:
            return None
        if isinstance(value, datetime):
            return _as_utc(value)
        if isinstance(value, str):
            s = value.strip()
            if not s:
                return None
            try:
                return _as_utc(datetime.fromisoformat(s))
            except ValueError:
                pass
        raise RecordError(
            f"field '{name}': expected an ISO-8601 timestamp such as 2025-03-01T09:30:00Z, "
            f"got {value!r}.",
            field=name,
        )

    return convert


def _ident(name: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        s = _to_str(name, value, allow_int=True)
        if s is None:
            raise RecordError(f"field '{name}': every record needs an id.", field=name)
        return s

    return convert


_MAKERS = {
    "category": _category,
    "text": _text,
    "number": _number,
    "boolean": _boolean,
    "datetime": _datetime,
}


_PLANS: dict[int, tuple[Domain, Any]] = {}


def _plan(domain: Domain) -> tuple[dict[str, Callable[[Any], Any]], tuple[str, ...]]:
    # Keyed by identity: hashing a frozen Domain walks all its fields (~4 µs, per record).
    hit = _PLANS.get(id(domain))
    if hit is not None and hit[0] is domain:
        return hit[1]
    if len(_PLANS) >= 64:
        _PLANS.clear()
    plan = _make_plan(domain)
    _PLANS[id(domain)] = (domain, plan)
    return plan


def _make_plan(domain: Domain) -> tuple[dict[str, Callable[[Any], Any]], tuple[str, ...]]:
    convert: dict[str, Callable[[Any], Any]] = {
        name: _MAKERS[ftype](name) for name, ftype in domain.field_types.items()
    }
    convert[domain.id] = _ident(domain.id)
    convert[domain.label] = _text(domain.label)
    return convert, tuple(domain.field_types)


def coerce_record(domain: Domain, record: Mapping[str, Any], *, require_id: bool = True) -> dict:
    """One record in the schema's types: the id, every field (None when absent), the label if given.

    The label, when present, is passed through as a string; whether it is a known resolution is
    the caller's check (`domain.check_resolution`), since a label endpoint and a scoring endpoint
    treat it differently.
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"a record is a JSON object of field → value, got {_kind(record)}.")
    convert, fields = _plan(domain)
    out: dict[str, Any] = dict.fromkeys(fields)
    for key, value in record.items():
        fn = convert.get(key)
        if fn is None:
            raise RecordError(
                f"unknown field '{key}' for domain '{domain.name}'."
                + suggest(str(key), [*fields, domain.id, domain.label]),
                field=str(key),
            )
        out[key] = fn(value)
    if domain.id not in out:
        if require_id:
            raise RecordError(f"field '{domain.id}': every record needs an id.", field=domain.id)
        out[domain.id] = None
    return out


# -- tables --------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value that does not fit (internal to the table converters)."""


def _by_uniques(col: pd.Series, convert: Callable[[Any], Any], fill: Any, dtype: Any):
    """Convert each distinct value once (tables repeat values); missing ones become `fill`.

    Returns the converted array and a mask of rows whose value did not fit.
    """
    try:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        values = np.asarray(uniques, dtype=object)
    except TypeError:  # unhashable cells (lists, dicts): convert one by one
        values = col.to_numpy(dtype=object, na_value=None)
        codes = np.arange(len(values))
    table = np.empty(len(values) + 1, dtype=dtype)
    table[-1] = fill
    bad = np.zeros(len(values) + 1, dtype=bool)
    for k, v in enumerate(values):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
            table[k] = fill
            continue
        try:
            table[k] = convert(v)
        except _Bad:
            table[k] = fill
            bad[k] = True
    return table[codes], bad[codes]


def _str_value(v: Any) -> str | None:
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _strings(col: pd.Series) -> pd.Series:
    values, _ = _by_uniques(col, _str_value, None, object)
    return pd.Series(values, index=col.index, dtype=object, name=col.name)


def _first_bad(col: pd.Series, bad: np.ndarray, name: str, expected: str) -> RecordError:
    pos = int(np.flatnonzero(bad)[0])
    label = col.index[pos]
    value = col.iloc[pos]
    return RecordError(
        f"column '{name}': expected {expected}, got {value!r} at row {label} "
        f"({int(bad.sum())} bad value{'s' if bad.sum() != 1 else ''} in all).",
        field=name,
        row=label,
    )


def _num_value(v: Any) -> float:
    if isinstance(v, bool | np.bool_):
        raise _Bad
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s.lower() in MISSING_WORDS:
            return np.nan
        try:
            return float(s)
        except ValueError:
            raise _Bad from None
    raise _Bad


def _numbers(col: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype):
        raise RecordError(f"column '{name}': expected numbers, got booleans.", field=name)
    if pd.api.types.is_numeric_dtype(col.dtype):
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out, bad = _by_uniques(col, _num_value, np.nan, np.float64)
        if bad.any():
            raise _first_bad(col, bad, name, "a number")
    inf = np.isinf(out)
    if inf.any():
        raise _first_bad(col, inf, name, "a finite number (use an empty cell for missing)")
    return pd.Series(out, index=col.index, name=name, dtype=np.float64)


_BOOL_WORDS = {
    **dict.fromkeys(TRUE_WORDS, 1.0),
    **dict.fromkeys(FALSE_WORDS, 0.0),
    **dict.fromkeys(MISSING_WORDS, np.nan),
}
_BOOL_HINT = "true/false, yes/no or 1/0"


def _bool_value(v: Any) -> float:
    if isinstance(v, bool | np.bool_):
        return 1.0 if v else 0.0
    if isinstance(v, int | float | np.integer | np.floating):
        if v in (0, 1):
            return float(v)
        raise _Bad
    if isinstance(v, str):
        word = _BOOL_WORDS.get(v.strip().lower())
        if word is None:
            raise _Bad
        return word
    raise _Bad


def _booleans(col: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isnan(out) & (out != 0.0) & (out != 1.0)
    else:
        out, bad = _by_uniques(col, _bool_value, np.nan, np.float64)
    if bad.any():
        raise _first_bad(col, bad, name, _BOOL_HINT)
    return pd.Series(out, index=col.index, name=name, dtype=np.float64)


def _time_value(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower() in MISSING_WORDS:
        return None
    return v


def _datetimes(col: pd.Series, name: str) -> pd.Series:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").dt.as_unit(DATETIME_UNIT).rename(name)
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col.dt.tz_localize("UTC").dt.as_unit(DATETIME_UNIT).rename(name)
    values, _ = _by_uniques(col, _time_value, None, object)
    missing = np.array([v is None for v in values], dtype=bool)
    clean = pd.Series(values, index=col.index, dtype=object)
    try:
        parsed = pd.to_datetime(clean, utc=True, format="ISO8601", errors="coerce")
    except (TypeError, ValueError):
        parsed = pd.Series(
            [_try_datetime(v) for v in clean], index=col.index, dtype="datetime64[us, UTC]"
        )
    bad = parsed.isna().to_numpy() & ~missing
    if bad.any():
        raise _first_bad(col, bad, name, "an ISO-8601 timestamp")
    return parsed.dt.as_unit(DATETIME_UNIT).rename(name)


def _try_datetime(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return pd.NaT
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ids(col: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        return _strings(col)
    return pd.Series(col.astype(str).to_numpy(dtype=object), index=col.index, name=col.name)


def coerce_frame(domain: Domain, df: pd.DataFrame) -> pd.DataFrame:
    """A new table in the schema's types (see the module docstring); the input is not modified.

    Column order: id, the time column, the fields in domain order, the label (when present), then
    any columns the domain does not know, unchanged.
    """
    if not isinstance(df, pd.DataFrame):
        raise RecordError(f"expected a pandas DataFrame, got {_kind(df)}.")
    types = domain.field_types
    out: dict[str, pd.Series] = {}
    if domain.id in df.columns:
        out[domain.id] = _ids(df[domain.id])
    ordered = ([domain.time] if domain.time else []) + [f for f in types if f != domain.time]
    for name in ordered:
        ftype = types[name]
        if name not in df.columns:
            if ftype in ("category", "text"):
                out[name] = pd.Series([None] * len(df), index=df.index, dtype=object, name=name)
            elif ftype == "datetime":
                out[name] = pd.Series(
                    pd.NaT, index=df.index, dtype=f"datetime64[{DATETIME_UNIT}, UTC]", name=name
                )
            else:
                out[name] = pd.Series(np.nan, index=df.index, dtype=np.float64, name=name)
            continue
        col = df[name]
        if ftype in ("category", "text"):
            out[name] = _strings(col)
        elif ftype == "number":
            out[name] = _numbers(col, name)
        elif ftype == "boolean":
            out[name] = _booleans(col, name)
        else:
            out[name] = _datetimes(col, name)
    if domain.label in df.columns:
        out[domain.label] = _strings(df[domain.label])
    frame = pd.DataFrame(out, index=df.index)
    extra = [c for c in df.columns if c not in out]
    if extra:
        frame = pd.concat([frame, df[extra]], axis=1)
    return frame
