"""What an export of past exceptions holds: the id, the creation time, each column's type, the
resolutions, and the columns that look like leakage. Pure: a DataFrame in, an `ExportProfile` out;
`autoresolve init` (service/cli_init.py) reads the file and `model.scaffold` writes the domain.

Leakage is a column whose value is known only after the resolution (a closing date, the team that
resolved the ticket, a count of events over the ticket's life). A model trained with one looks
excellent on history and is useless on a new record, where the value does not exist yet, and its
certificate would promise a precision it cannot keep. Such columns are left out of the domain,
each with the reason, so a person can put back one that is in fact known at creation. The checks
are conservative on purpose: leaving out a useful column costs some coverage, keeping a leak
voids the certificate. A column is left out when

- it is a timestamp after the creation time in nearly every row (`closed_at`);
- it alone predicts the label almost perfectly on the newest records (value → most frequent
  label, learned on the older ones), far beyond the majority baseline (`last_activity`);
- it is empty exactly where the label is empty: it is filled in when the record is resolved;
- being empty (or filled in) gives away one resolution in a sizeable group of rows (`expense`
  is empty exactly for fines paid before a reminder was sent);
- a free-text column names the record's own resolution much more often than any other;
- its name says it holds a value from the end of the record's life (`final_status`, `n_events`,
  `total_paid`; the words are in `AFTER_WORDS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autoresolve.model.domain import DomainError
from autoresolve.model.records import FALSE_WORDS, MISSING_WORDS, TRUE_WORDS
from autoresolve.rules.errors import suggest

ID_WORDS = frozenset({"id", "key", "number", "nr", "no", "num", "ref", "uuid", "ticket", "case"})
CODE_WORDS = frozenset({"id", "code", "zip", "postal", "postcode", "phone", "sku", "ref"})
CREATED_WORDS = frozenset(
    {"created", "create", "creation", "opened", "open", "start", "started", "submitted",
     "received", "reported", "logged", "raised"}
)  # fmt: skip
AFTER_WORDS = frozenset(
    {"final", "last", "latest", "closed", "close", "closing", "resolved", "resolving",
     "resolution", "resolver", "outcome", "outcomes", "result", "completed", "completion",
     "total", "n", "count", "max", "duration"}
)  # fmt: skip
MAX_RESOLUTIONS = 500
NEAR_PERFECT = 0.95  # one-column accuracy on the newest records …
NEAR_PERFECT_GAIN = 0.8  # … removing this share of the majority baseline's errors
AFTER_SHARE = 0.95  # a timestamp on or after the creation time in this share of rows
TEXT_NAMES_LABEL = 0.2  # text holding its row's own resolution in this share of rows
EMPTY_PURITY = 0.995  # empty (or filled) only in rows of one resolution …
EMPTY_MIN_ROWS = 100  # … in at least this many rows …
EMPTY_MIN_SHARE = 0.01  # … and this share of them …
EMPTY_BASE_MAX = 0.9  # … while that resolution is not nearly every row anyway
CODE_MAX_VALUES = 200
DATETIME_SAMPLE = 5_000


@dataclass(frozen=True)
class Column:
    """A column of the export as the domain will see it: a field of `type`, or left out."""

    name: str
    type: str | None  # category, number, boolean, text, datetime; None when left out
    why: str  # how the type was chosen, or why the column is left out
    missing: float  # share of empty values
    distinct: int
    leak: bool = False  # left out as probable leakage (the others: empty, constant, an id …)
    top: str | None = None  # the most common value

    @property
    def kept(self) -> bool:
        return self.type is not None


@dataclass
class ExportProfile:
    rows: int
    id: str
    id_why: str
    label: str
    time: str | None
    time_why: str
    columns: list[Column]
    resolutions: list[tuple[str, int]]  # (resolution, records), most frequent first
    unlabelled: int
    periods: str
    notes: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[Column]:
        return [c for c in self.columns if c.kept]

    @property
    def left_out(self) -> list[Column]:
        return [c for c in self.columns if not c.kept]


class ProfileError(DomainError):
    """An export that cannot become a domain as it is; the message says what to pass or fix."""


# ---------------------------------------------------------------- values


def words(name: str) -> set[str]:
    """The words of a column name: snake_case, kebab-case, spaces, camelCase."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w}


def _text(col: pd.Series) -> pd.Series:
    """Values as stripped text, missing as NA (empty cells and the usual missing words)."""
    s = col.astype("string").str.strip()
    return s.mask(s.str.lower().isin(MISSING_WORDS) | s.eq(""))


def _numbers(text: pd.Series) -> pd.Series | None:
    """The column as floats when every present value is a finite number, else None."""
    present = text.dropna()
    if present.empty:
        return None
    num = pd.to_numeric(present, errors="coerce")
    if num.isna().any() or not np.isfinite(num.to_numpy(dtype=float)).all():
        return None
    return pd.to_numeric(text, errors="coerce")


def _times(text: pd.Series) -> pd.Series | None:
    """The column as UTC timestamps when every present value is ISO 8601 (what the schema reads),
    else None; numbers never count as times."""
    present = text.dropna()
    if present.empty or _numbers(present) is not None:
        return None
    sample = present.iloc[:: max(1, len(present) // DATETIME_SAMPLE)]
    if pd.to_datetime(sample, utc=True, format="ISO8601", errors="coerce").isna().any():
        return None
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return parsed if parsed.notna().sum() == len(present) else None


# ---------------------------------------------------------------- the id, the time, the label


def _resolutions(y: pd.Series, label: str) -> list[tuple[str, int]]:
    counts = y.dropna().value_counts()
    found = sorted(((str(v), int(c)) for v, c in counts.items()), key=lambda vc: (-vc[1], vc[0]))
    if not found:
        raise ProfileError(f"the label column '{label}' is empty; it must hold the resolutions.")
    if len(found) > MAX_RESOLUTIONS:
        raise ProfileError(
            f"the label column '{label}' has {len(found):,} distinct values; a resolution is one "
            f"of a few outcomes (at most {MAX_RESOLUTIONS}). Is it the right column?"
        )
    if "defer" in dict(found):
        raise ProfileError(
            f"the label column '{label}' has the value 'defer', reserved for rules that defer; "
            "rename it in the export."
        )
    return found


def _pick_id(text: pd.DataFrame, label: str, given: str | None) -> tuple[str, str]:
    if given is not None:
        col = text[given]
        if col.isna().any() or col.duplicated().any():
            raise ProfileError(
                f"--id {given}: every row needs its own id, but {int(col.isna().sum())} are "
                f"empty and {int(col.duplicated().sum())} repeat an earlier one."
            )
        return given, "given with --id"
    unique = [
        c
        for c in text.columns
        if c != label and text[c].notna().all() and not text[c].duplicated().any()
        and _times(text[c]) is None
    ]  # fmt: skip
    if not unique:
        raise ProfileError(
            "no column holds a different, non-empty value in every row, so none can be the "
            "record id; add one to the export or pass --id COLUMN."
        )
    named = [c for c in unique if words(c) & ID_WORDS]
    chosen = (named or unique)[0]
    why = "unique in every row" + (", named like an id" if named else "")
    return chosen, why


def _pick_time(
    times: dict[str, pd.Series], given: str | None, text: pd.DataFrame
) -> tuple[str | None, str]:
    """The creation time: the timestamp column earliest in most rows (a record is created before
    anything else happens to it), a name like `created_at` breaking ties."""
    if given is not None:
        if given not in times:
            raise ProfileError(
                f"--time {given}: its values are not all ISO-8601 timestamps "
                f"(e.g. {text[given].dropna().iloc[0]!r}); convert them or choose another column."
            )
        return given, "given with --time"
    if not times:
        return None, "no column of ISO-8601 timestamps: splits follow the file's row order"
    names = list(times)
    frame = pd.DataFrame({n: times[n] for n in names})
    earliest = {n: _earliest_share(frame, n) for n in names}
    chosen = max(
        names, key=lambda n: (earliest[n], bool(words(n) & CREATED_WORDS), -names.index(n))
    )
    others = f", the earliest of {', '.join(names)} in {earliest[chosen]:.0%} of rows"
    return chosen, "ISO-8601 timestamps" + (others if len(names) > 1 else "")


def _earliest_share(frame: pd.DataFrame, name: str) -> float:
    """The share of rows where `name` is no later than every other timestamp present."""
    others = frame.drop(columns=name)
    if others.empty:
        return 1.0
    first = others.min(axis=1)
    return float((frame[name].le(first) | first.isna()).mean())


def _periods(when: pd.Series | None) -> str:
    """A period that cuts the central 90% of the records' time span into at least 20 periods."""
    if when is None or when.notna().sum() < 2:
        return "month"
    lo, hi = when.dropna().quantile([0.05, 0.95])
    days = max((hi - lo).total_seconds() / 86_400, 1.0)
    for name, length in (("year", 365), ("quarter", 91), ("month", 30), ("week", 7)):
        if days / length >= 20:
            return name
    return "day"


# ---------------------------------------------------------------- types


def _type_of(name: str, text: pd.Series, times: dict[str, pd.Series]) -> tuple[str, str]:
    present = text.dropna()
    lower = set(present.str.lower().unique())
    if len(lower) == 2 and lower <= TRUE_WORDS | FALSE_WORDS:
        return "boolean", f"two values ({', '.join(sorted(lower))})"
    num = _numbers(text)
    if num is not None:
        values = num.dropna()
        whole = bool((values == values.round()).all())
        distinct = values.nunique()
        span = float(values.max() - values.min()) + 1
        if whole and words(name) & CODE_WORDS:
            return "category", "whole numbers named like a code"
        if whole and distinct <= CODE_MAX_VALUES and distinct < 0.5 * span:
            return "category", (
                f"{distinct} whole numbers spread over {span:,.0f}: codes, not quantities"
            )
        return "number", "numbers"
    if name in times:
        return "datetime", "ISO-8601 timestamps"
    mean_len = float(present.str.len().mean())
    mean_words = float(present.str.count(r"\s+").mean()) + 1
    if mean_len >= 30 or (mean_words >= 4 and present.nunique() >= 0.5 * len(present)):
        return "text", f"free text ({mean_words:.0f} words on average)"
    return "category", f"{present.nunique():,} distinct values"


# ---------------------------------------------------------------- leakage


def _one_column_accuracy(x: pd.Series, y: pd.Series, older: np.ndarray) -> tuple[float, float]:
    """(accuracy, majority baseline) on the newest records of predicting the label from this
    column alone: each value's most frequent label among the older records."""
    xs = x.astype("string").fillna("<empty>")
    train = pd.DataFrame({"x": xs[older], "y": y[older]})
    if train.empty or (~older).sum() == 0:
        return 0.0, 1.0
    majority = train["y"].mode().iloc[0]
    by_value = train.groupby("x")["y"].agg(lambda s: s.mode().iloc[0])
    newest = ~older
    guess = xs[newest].map(by_value).fillna(majority)
    truth = y[newest]
    return float((guess == truth).mean()), float((truth == majority).mean())


def _binned(values: pd.Series) -> pd.Series:
    """Numbers with many values as 20 quantile bins (a value each would be an id)."""
    if values.nunique() <= 20:
        return values.astype("string")
    ranks = values.rank(method="first")
    return pd.qcut(ranks, 20, labels=False, duplicates="drop").astype("string")


def _leak_reasons(
    name: str,
    kind: str,
    text: pd.Series,
    typed: pd.Series,
    label: pd.Series,
    created: pd.Series | None,
    older: np.ndarray,
    resolutions: Sequence[str],
) -> list[str]:
    reasons = []
    named = sorted(words(name) & AFTER_WORDS)
    if named:
        reasons.append(f"its name ('{named[0]}') says it holds a value from after the creation")
    if kind == "datetime" and created is not None:
        both = typed.notna() & created.notna()
        if both.sum():
            after = float((typed[both] >= created[both]).mean())
            if after >= AFTER_SHARE and (typed[both] > created[both]).mean() >= 0.5:
                reasons.append(f"a timestamp on or after the creation time in {after:.0%} of rows")
    unlabelled = label.isna()
    if (
        unlabelled.sum() >= 5
        and text[unlabelled].isna().all()
        and text[~unlabelled].notna().mean() >= 0.9
    ):
        reasons.append(
            f"empty in all {int(unlabelled.sum())} rows without a label and filled in the others: "
            "recorded with the resolution"
        )  # fmt: skip
    labelled = ~unlabelled.to_numpy()
    pure = _emptiness_decides(text[labelled], label[labelled])
    if pure:
        reasons.append(pure)
    x = _binned(typed) if kind == "number" else text
    acc, base = _one_column_accuracy(x[labelled].reset_index(drop=True),
                                     label[labelled].reset_index(drop=True), older)  # fmt: skip
    if (
        base < NEAR_PERFECT
        and acc >= NEAR_PERFECT
        and (acc - base) / (1 - base) >= NEAR_PERFECT_GAIN
    ):
        reasons.append(
            f"alone it predicts the label for {acc:.1%} of the newest records (the most frequent "
            f"label: {base:.1%}): a near-perfect predictor is usually recorded after the fact"
        )  # fmt: skip
    if kind == "text":
        share = _names_own_label(text[labelled], label[labelled], resolutions)
        if share is not None:
            reasons.append(f"the text names the record's own resolution in {share:.0%} of rows")
    return reasons


def _emptiness_decides(text: pd.Series, label: pd.Series) -> str | None:
    """Why the column's being empty (or filled) gives away the label, or None: in a sizeable
    group of rows it holds one resolution only, which labels made by people never do exactly —
    a value that appears only as the case goes on does."""
    empty = text.isna().to_numpy()
    overall = label.value_counts(normalize=True)
    for mask, state in ((empty, "empty"), (~empty, "filled in")):
        n = int(mask.sum())
        if n < max(EMPTY_MIN_ROWS, EMPTY_MIN_SHARE * len(label)) or n == len(label):
            continue
        counts = label[mask].value_counts()
        top, share = counts.index[0], counts.iloc[0] / n
        if share >= EMPTY_PURITY and overall[top] < EMPTY_BASE_MAX:
            return (
                f"{state} in {n:,} rows, {share:.1%} of them resolved '{top}' (of all rows: "
                f"{overall[top]:.0%}): filled in as the case goes on"
            )
    return None


def _names_own_label(text: pd.Series, label: pd.Series, resolutions: Sequence[str]) -> float | None:
    """The share of rows whose text contains their own resolution, when it is both large and
    well above the share containing some other resolution; else None."""
    lowered = text.fillna("").str.lower().reset_index(drop=True)
    truth = label.astype(str).str.lower().reset_index(drop=True)
    names = [r.lower() for r in resolutions if len(r) >= 3]
    if not names or lowered.empty:
        return None
    own = np.array([t in s for s, t in zip(lowered, truth, strict=True)])
    other = np.array(
        [any(n in s for n in names if n != t) for s, t in zip(lowered, truth, strict=True)]
    )
    share, share_other = float(own.mean()), float(other.mean())
    return share if share >= TEXT_NAMES_LABEL and share >= 2 * share_other else None


# ---------------------------------------------------------------- the whole export


def profile_export(
    df: pd.DataFrame, label: str, *, id: str | None = None, time: str | None = None
) -> ExportProfile:
    """Profile an export (any dtypes; text is read as text) for a domain with label `label`."""
    for flag, name in (("--label", label), ("--id", id), ("--time", time)):
        if name is not None and name not in df.columns:
            raise ProfileError(
                f"{flag} {name}: no such column in the export."
                + suggest(name, [str(c) for c in df.columns])
            )
    text = pd.DataFrame({c: _text(df[c]) for c in df.columns})
    y = text[label]
    resolutions = _resolutions(y, label)
    id_col, id_why = _pick_id(text, label, id)
    times = {
        c: t
        for c in text.columns
        if c not in (label, id_col) and (t := _times(text[c])) is not None
    }
    time_col, time_why = _pick_time(times, time, text)
    created = times.get(time_col) if time_col else None
    older = _older_labelled(y, created)
    columns = []
    for name in df.columns:
        if name in (label, id_col, time_col):
            continue
        columns.append(
            _column(name, text[name], times, y, created, older, [r for r, _ in resolutions])
        )
    return ExportProfile(
        rows=len(df),
        id=id_col,
        id_why=id_why,
        label=label,
        time=time_col,
        time_why=time_why,
        columns=columns,
        resolutions=resolutions,
        unlabelled=int(y.isna().sum()),
        periods=_periods(created),
    )


def _older_labelled(y: pd.Series, created: pd.Series | None) -> np.ndarray:
    """For each labelled row, in file order: whether it is among the older 70% (by creation
    time, else by position); the leakage checks learn on those and test on the rest."""
    pos = np.flatnonzero(y.notna().to_numpy())
    key = created.fillna(created.min()).to_numpy() if created is not None else np.arange(len(y))
    order = pos[np.argsort(key[pos], kind="stable")]
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[pos] < int(0.7 * len(pos))


def _column(
    name: str,
    text: pd.Series,
    times: dict[str, pd.Series],
    y: pd.Series,
    created: pd.Series | None,
    older: np.ndarray,
    resolutions: list[str],
) -> Column:
    missing = float(text.isna().mean())
    distinct = int(text.nunique())
    if distinct == 0:
        return Column(name, None, "empty in every row", missing, distinct)
    if distinct == 1 and missing == 0:  # one value or empty: being empty is the information
        only = text.iloc[0]
        return Column(
            name, None, f"one value ({only!r}) in every row: nothing to learn", missing, 1
        )
    kind, why = _type_of(name, text, times)
    if kind == "category" and distinct > 1_000 and distinct >= 0.9 * text.notna().sum():
        return Column(
            name, None, f"a different value in nearly every row ({distinct:,}), like an id: "
            "nothing a model can generalise from", missing, distinct,
        )  # fmt: skip
    typed = times[name] if kind == "datetime" else _numbers(text) if kind == "number" else text
    reasons = _leak_reasons(name, kind, text, typed, y, created, older, resolutions)
    if reasons:
        return Column(name, None, "; ".join(reasons), missing, distinct, leak=True)
    return Column(name, kind, why, missing, distinct, top=str(text.mode().iloc[0]))
