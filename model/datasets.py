"""Reading a domain's records from disk: CSV (optionally gzip) or Parquet, in the schema's types.

This is the IO edge for tables. Everything returned has been through `model.records.coerce_frame`,
so training, simulation and batch scoring see one representation whatever the file format. A
domain with a `generator` (the CRM demo) has no checked-in data: its `data` file is generated from
that seeded generator (`model.generators`) the first time it is asked for, and again when the
generator's code changed (written atomically, so concurrent first uses cannot leave half a file).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from autoresolve.model.domain import Domain, DomainError
from autoresolve.model.generators import Generator, load_generator, source_digest
from autoresolve.model.records import RecordError, coerce_frame
from autoresolve.model.splits import time_positions

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
NA_TOKENS = ["", "NaN", "nan", "NULL", "null", "None", "NA", "N/A", "NaT"]
PERIOD_CODES = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}


class DatasetError(DomainError):
    """A data file that cannot be read for a domain: missing, wrong format, or unreadable."""


def file_format(path: Path) -> str:
    """'csv' or 'parquet' by the file's suffix; the one place that decides it (batch IO too)."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DatasetError(
        f"unsupported file type '{''.join(path.suffixes) or path.name}'; "
        f"use one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}.",
        path=path,
    )


def csv_separator(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _read_csv(path: Path, domain: Domain) -> pd.DataFrame:
    types = domain.field_types
    as_text = [domain.id, domain.label] + [
        n for n, t in types.items() if t in ("category", "text", "boolean", "datetime")
    ]
    # Text-like columns keep every value as written ("NA" is Namibia); records.py decides missing.
    na_values = {n: NA_TOKENS for n, t in types.items() if t == "number"}
    return pd.read_csv(
        path,
        sep=csv_separator(path),
        dtype=dict.fromkeys(as_text, str),
        keep_default_na=False,
        na_values=na_values or [""],
        low_memory=False,
    )


def read_table(path: str | Path, domain: Domain) -> pd.DataFrame:
    """The raw table in `path` (no coercion). Errors name the file and what to do."""
    p = Path(path)
    fmt = file_format(p)
    if not p.is_file():
        raise DatasetError("no such data file.", path=p)
    try:
        if fmt == "csv":
            return _read_csv(p, domain)
        return pd.read_parquet(p)
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"cannot read this {fmt.upper()} file ({type(exc).__name__}: {exc}). "
            "Is it complete and in the format its name says?",
            path=p,
        ) from exc
    except Exception as exc:  # pyarrow and the CSV parser raise their own error types
        raise DatasetError(
            f"cannot read this {fmt.upper()} file ({type(exc).__name__}: {exc}).", path=p
        ) from exc


def read_export(path: str | Path) -> pd.DataFrame:
    """A table with no domain yet (`autoresolve init`): CSV cells as written, as text (an empty
    cell is missing); Parquet as stored."""
    p = Path(path)
    fmt = file_format(p)
    if not p.is_file():
        raise DatasetError("no such data file.", path=p)
    try:
        if fmt == "parquet":
            return pd.read_parquet(p)
        return pd.read_csv(
            p, sep=csv_separator(p), dtype=str, keep_default_na=False, na_values=[""]
        )
    except Exception as exc:  # pyarrow and the CSV parser raise their own error types
        raise DatasetError(
            f"cannot read this {fmt.upper()} file ({type(exc).__name__}: {exc}).", path=p
        ) from exc


def read_labels(domain: Domain, path: str | Path | None = None) -> pd.Series:
    """Only the label column of a data file (default: the domain's), as text."""
    p = Path(path) if path is not None else domain.data_path
    if p is None or not p.is_file():
        raise DatasetError("no such data file.", path=p, key="data")
    fmt = file_format(p)
    try:
        if fmt == "parquet":
            col = pd.read_parquet(p, columns=[domain.label])[domain.label]
        else:
            col = pd.read_csv(
                p,
                sep=csv_separator(p),
                usecols=[domain.label],
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )[domain.label]
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(
            f"cannot read the label column '{domain.label}' ({exc}).", path=p, key="label"
        ) from exc
    return col


def write_table(df: pd.DataFrame, path: str | Path, domain: Domain | None = None) -> Path:
    """Write a table as CSV (gzip by suffix) or Parquet, atomically.

    With a domain, a CSV spells boolean fields true/false instead of 1.0/0.0 (both read back).
    """
    p = Path(path)
    fmt = file_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = _csv_ready(df, domain) if domain is not None else df
            compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(p.suffix.lower())
            out.to_csv(tmp, sep=csv_separator(p), index=False, compression=compression)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _csv_ready(df: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    out = df.copy()
    for name in domain.fields_of("boolean"):
        if name in out.columns:
            col = out[name]
            out[name] = np.where(col.isna(), "", np.where(col == 1.0, "true", "false"))
    return out


def domain_generator(domain: Domain) -> Generator:
    """The generator `domain` names (its `generator` key); errors name the domain file."""
    if not domain.generator:
        raise DatasetError(f"domain '{domain.name}' names no generator.", key="generator")
    where = domain.directory / "domain.yaml" if domain.directory is not None else None
    return load_generator(domain.generator, where=where)


def generator_stamp(domain: Domain, seed: int | None = None) -> str:
    """Identifies the generator code and seed, so a file made by an older generator is redone."""
    if not domain.generator:
        return ""
    source = source_digest(domain_generator(domain))
    return hashlib.sha256(f"{source}\0{seed}".encode()).hexdigest()[:16]


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".stamp")


def is_current(domain: Domain, *, seed: int | None = None) -> bool:
    """True when the data file exists and (for generated data) matches today's generator."""
    target = domain.data_path
    if target is None or not target.is_file():
        return False
    if not domain.generator:
        return True
    stamp = _stamp_path(target)
    return stamp.is_file() and stamp.read_text().strip() == generator_stamp(domain, seed)


def ensure_generated(domain: Domain, *, seed: int | None = None) -> Path:
    """Create the domain's data file from its generator if it is missing or was made by an
    older version of the generator (a stale demo file would silently disagree with the tests)."""
    target = domain.data_path
    if target is None:
        raise DatasetError(
            f"domain '{domain.name}' names no data file; pass the file explicitly.", key="data"
        )
    if is_current(domain, seed=seed) or (target.is_file() and not domain.generator):
        return target
    if not domain.generator:
        raise DatasetError(
            f"data file {target} does not exist and domain '{domain.name}' has no generator; "
            "put the data there or pass --data FILE.",
            key="data",
        )
    frame = domain_generator(domain).records(seed=seed)
    write_table(coerce_frame(domain, frame), target, domain)
    _stamp_path(target).write_text(generator_stamp(domain, seed) + "\n")
    return target


def load_domain_frame(
    domain: Domain, path: str | Path | None = None, *, require_label: bool = True
) -> pd.DataFrame:
    """The domain's records in schema types; generated on first use for generator domains.

    Refuses (DomainError) a table without the id column, or without the label when
    `require_label`; a value that does not fit its field raises DatasetError naming the file,
    column, row and value.
    """
    if path is None:
        if domain.data_path is None:
            raise DatasetError(
                f"domain '{domain.name}' names no data file (key 'data'); pass the file.",
                key="data",
            )
        path = domain.data_path
        if domain.generator:
            ensure_generated(domain)
    p = Path(path)
    raw = read_table(p, domain)
    domain.check_table(raw, require_label=require_label, where=str(p))
    try:
        return coerce_frame(domain, raw)
    except RecordError as exc:
        raise DatasetError(str(exc), path=p, key=exc.field) from exc


def sort_by_time(domain: Domain, df: pd.DataFrame) -> pd.DataFrame:
    """The rows in time order (`model.splits.time_positions`), index reset; a domain without a
    time field keeps the given order. Refuses a table that lacks the domain's time column."""
    if domain.time and domain.time not in df.columns:
        raise DomainError(f"time column '{domain.time}' is not in the table.", key="time")
    return df.iloc[time_positions(domain, df)].reset_index(drop=True)


def period_index(df: pd.DataFrame, domain: Domain) -> pd.Series:
    """Calendar period of each record by `domain.periods` (month → Period('2025-03', 'M'))."""
    if not domain.time:
        raise DomainError(
            f"domain '{domain.name}' has no time column, so records have no period.", key="time"
        )
    if domain.time not in df.columns:
        raise DomainError(f"time column '{domain.time}' is not in the table.", key="time")
    when = df[domain.time]
    if not isinstance(when.dtype, pd.DatetimeTZDtype):
        when = pd.to_datetime(when, utc=True, format="ISO8601")
    naive = when.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.dt.to_period(PERIOD_CODES[domain.periods]).rename("period")
