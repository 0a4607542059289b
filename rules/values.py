"""What a raw value means to the rules: one normaliser per value type.

Both evaluators read values through these functions (the vectorised one applies them to the
distinct values of a column), which is how they agree on odd inputs: NaN, pandas NA/NaT, numeric
strings, time zones. Missing is `None`; anything that cannot be read as the field's type is
missing too (the schema layer, model.records, refuses such values before they get here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from pandas import NA, NaT

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_EPOCH = datetime(1970, 1, 1)
_MIN_DT = datetime(1678, 1, 1)
_MAX_DT = datetime(2261, 12, 31)


def norm_number(v: Any) -> float | None:
    t = type(v)
    if t is float:
        return None if v != v else v
    if t is int and -(2**1000) < v < 2**1000:
        return float(v)
    if v is None or v is NA or v is NaT:
        return None
    if isinstance(v, bool | np.bool_):
        return float(v)
    if isinstance(v, str | int | float | np.integer | np.floating | numbers.Number):
        try:
            f = float(v)
        except OverflowError:  # an int beyond float range
            return math.inf if v > 0 else -math.inf
        except (TypeError, ValueError):
            return None
        return None if f != f else f
    return None


def norm_string(v: Any) -> str | None:
    if type(v) is str:
        return v
    if v is None or v is NA or v is NaT:
        return None
    if isinstance(v, float | np.floating) and v != v:
        return None
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    try:
        return str(v)
    except ValueError:  # e.g. an int with more digits than Python will print
        return None


def norm_boolean(v: Any) -> bool | None:
    if v is True or v is False:
        return v
    if v is None or v is NA or v is NaT:
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    return None


def norm_datetime(v: Any) -> datetime | None:
    """A naive UTC datetime at microsecond precision, or None. Aware values are converted."""
    if v is None or v is NA or v is NaT:
        return None
    if isinstance(v, str):
        s = v.strip()
        if not s or len(s) > 64:
            return None
        try:
            v = datetime.fromisoformat(s)
        except ValueError:
            return None
    elif isinstance(v, np.datetime64):
        if np.isnat(v):
            return None
        v = v.astype("datetime64[us]").item()
        if not isinstance(v, datetime):
            return None
    elif isinstance(v, date) and not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    if not isinstance(v, datetime):
        return None
    if v.tzinfo is not None:
        v = v.astimezone(UTC).replace(tzinfo=None)
    if type(v) is not datetime:  # pandas Timestamp: drop nanoseconds exactly like the frame path
        v = datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    if not _MIN_DT <= v <= _MAX_DT:
        return None
    return v


def datetime_to_us(v: datetime) -> int:
    """Microseconds since the epoch: the frame path's representation of a datetime."""
    delta = v - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "number": norm_number,
    "string": norm_string,
    "boolean": norm_boolean,
    "datetime": norm_datetime,
}
