"""File IO for `autoresolve resolve`: CSV/Parquet in chunks, decisions out, local or Spark engine.

Formats follow the suffix (`.csv`, `.csv.gz`, `.parquet`, `.pq`). The local engine streams the
input in chunks (bounded memory: one chunk of records and its decisions at a time) through
`model.batch.decide_chunk`, so a bad row becomes an `invalid` deferral instead of failing the file.
The Spark engine runs the registered pyfunc through `mlflow.pyfunc.spark_udf` (obtained from
`model.registry`, the only mlflow importer) in Spark local mode.

Output: one row per input record, in input order, with the Decision fields as columns
(`candidates` a JSON string) plus `error` (why a row was refused; empty otherwise). The id column
keeps the domain's name for it (`case_id`, not `record_id`), so the output joins back to the input
and to a label file on the same column.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autoresolve.model import datasets
from autoresolve.model.batch import ERROR_COLUMN, OUTPUT_COLUMNS, candidates_json, decide_chunk
from autoresolve.model.domain import Domain

DEFAULT_CHUNK_ROWS = 100_000

# Decision fields that are None when not applicable; never the literal text "None".
_NULLABLE_TEXT = ("record_id", "resolution", "source", "rule_id", "defer_reason", "error")
_FLOATS = ("confidence", "threshold")


def output_columns(id_column: str = "record_id") -> list[str]:
    """The output file's columns: the decision's, with `record_id` named as the domain's id."""
    return [id_column if c == "record_id" else c for c in OUTPUT_COLUMNS]


def output_schema(id_column: str = "record_id") -> pa.Schema:
    return pa.schema(
        [
            pa.field(c, pa.float64() if c in ("confidence", "threshold") else pa.string())
            for c in output_columns(id_column)
        ]
    )


class BatchIOError(ValueError):
    """An input or output file that cannot be read or written; the message says which and why."""


def file_format(path: Path) -> str:
    try:
        return datasets.file_format(path)
    except datasets.DatasetError as exc:
        raise BatchIOError(f"{path}: unknown file type; {str(exc).split('; ', 1)[-1]}") from exc


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file from its footer; None for CSV (unknown without reading it)."""
    if file_format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    return None


def read_chunks(path: Path, domain: Domain, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The input in chunks; ids always read as text (never 1e3 for '1000')."""
    if not path.is_file():
        raise BatchIOError(f"{path}: no such input file.")
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=chunk_rows):
                df = batch.to_pandas()
                if domain.id in df.columns:
                    df[domain.id] = df[domain.id].map(lambda v: None if pd.isna(v) else str(v))
                yield df
        else:
            yield from pd.read_csv(
                path,
                sep=datasets.csv_separator(path),
                chunksize=chunk_rows,
                dtype={domain.id: str},
                keep_default_na=False,  # "NA" is Namibia; the schema's coercion knows per type
                na_values=[""],
                low_memory=False,
            )
    except (OSError, pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BatchIOError(f"{path}: cannot read it as {fmt}: {exc}") from exc


class DecisionWriter:
    """Appends decision chunks (`record_id` …) to a CSV or Parquet file with one fixed schema,
    the id column named `id_column`."""

    def __init__(self, path: Path, id_column: str = "record_id"):
        self.path = path
        self.id_column = id_column
        self.schema = output_schema(id_column)
        self.format = file_format(path)
        self._parquet: pq.ParquetWriter | None = None
        self._started = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(path.name + ".partial")

    def write(self, table: pd.DataFrame) -> None:
        table = table[list(OUTPUT_COLUMNS)]
        if self.id_column != "record_id":
            table = table.rename(columns={"record_id": self.id_column})
        if self.format == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._tmp, self.schema)
            self._parquet.write_table(
                pa.Table.from_pandas(table, schema=self.schema, preserve_index=False)
            )
        else:
            compression = "gzip" if self.path.name.lower().endswith(".gz") else None
            if compression and self._started:
                raise BatchIOError("gzip CSV output is written in one chunk only; use .parquet.")
            table.to_csv(
                self._tmp,
                mode="a" if self._started else "w",
                header=not self._started,
                index=False,
                compression=compression,
            )
        self._started = True

    def close(self) -> None:
        """Finish the file and move it into place (no half-written output on failure)."""
        if self._parquet is not None:
            self._parquet.close()
        elif not self._started:
            self.write(pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS}))
            if self._parquet is not None:
                self._parquet.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._tmp.unlink(missing_ok=True)


@dataclass
class BatchSummary:
    records: int = 0
    resolved: int = 0
    deferred: int = 0
    invalid: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    engine: str = "local"

    def add(self, table: pd.DataFrame) -> None:
        self.records += len(table)
        self.resolved += int((table["outcome"] == "resolved").sum())
        self.deferred += int((table["outcome"] == "deferred").sum())
        self.invalid += int(table[ERROR_COLUMN].notna().sum())
        for key, col in ((self.by_source, "source"), (self.by_reason, "defer_reason")):
            for k, v in table[col].dropna().value_counts().items():
                key[str(k)] = key.get(str(k), 0) + int(v)

    def to_dict(self) -> dict[str, Any]:
        rate = self.records / self.seconds if self.seconds > 0 else None
        return {
            "engine": self.engine,
            "records": self.records,
            "resolved": self.resolved,
            "deferred": self.deferred,
            "invalid": self.invalid,
            "autonomy": self.resolved / self.records if self.records else None,
            "by_source": self.by_source,
            "defer_reasons": self.by_reason,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(rate, 1) if rate else None,
        }


Decided = Callable[[pd.DataFrame, pd.DataFrame], None]
"""Called with (records, their decisions) after each chunk: `autoresolve resolve` logs both to the
decision store there."""


def logged_records(domain: Domain, chunk: pd.DataFrame) -> list[dict[str, Any]]:
    """The records as the decision log keeps them: the id and the domain's fields as given
    (other columns of the file, a label column included, are not part of a record)."""
    cols = [c for c in [domain.id, *domain.field_types] if c in chunk.columns]
    frame = chunk[cols].astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def resolve_local(
    policy: Any,
    input_path: Path,
    output_path: Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
    on_decided: Decided | None = None,
    now: Any = None,
) -> BatchSummary:
    """Decide a file chunk by chunk with an in-process policy."""
    summary = BatchSummary(engine="local")
    t0 = time.perf_counter()
    writer = DecisionWriter(output_path, policy.domain.id)
    try:
        for chunk in read_chunks(input_path, policy.domain, chunk_rows):
            table = decide_chunk(policy, chunk, now=now)
            writer.write(table)
            summary.add(table)
            if on_decided is not None:
                on_decided(chunk.reset_index(drop=True), table)
            if on_chunk is not None:
                on_chunk(len(chunk))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - t0
    return summary


def spark_schema(columns: list[str]) -> Any:
    """Every CSV column as text: the policy's own coercion then reads numbers, booleans ('1.0',
    'true') and timestamps exactly as the local engine does, and refuses what does not fit."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c, T.StringType(), True) for c in columns])


def spark_session(master: str = "local[2]") -> Any:
    """A quiet local Spark session bound to 127.0.0.1."""
    import os
    import sys
    import warnings

    from pyspark.sql import SparkSession

    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    # Python workers must run this interpreter (it has pandas, the model and mlflow).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
        .appName("autoresolve-resolve")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _try_double(col: Any) -> Any:
    """The text as a double, null when it is not a number (Spark's ANSI cast would fail the job)."""
    if hasattr(col, "try_cast"):  # Spark ≥ 4.0
        return col.try_cast("double")
    return col.cast("double")  # Spark 3.5: a non-ANSI cast gives null


def _spark_typed(df: Any, domain: Domain) -> tuple[list[Any], Any]:
    """The record columns as the model's signature takes them (numbers as double; a CSV's text
    is cast), and one column naming the numbers that do not parse, so such a record is deferred
    as `invalid` as the local engine's coercion would refuse it."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from autoresolve.model.records import MISSING_WORDS

    typed, bad = [], []
    for c in [c for c in [domain.id, *domain.field_types] if c in df.columns]:
        col = df[c]
        if domain.field_types.get(c) != "number":
            typed.append(col.alias(c))
        elif isinstance(df.schema[c].dataType, T.StringType):
            missing = col.isNull() | F.lower(F.trim(col)).isin(sorted(MISSING_WORDS))
            value = F.when(missing, None).otherwise(_try_double(F.trim(col)))
            message = F.concat(F.lit(f"field '{c}': expected a number, got '"), col, F.lit("'"))
            bad.append(F.when(~missing & value.isNull(), message))
            typed.append(value.alias(c))
        else:
            typed.append(col.cast("double").alias(c))
    return typed, F.concat_ws("; ", *bad) if bad else F.lit("")


def decide_spark_frame(
    spark: Any, udf: Any, df: Any, domain: Domain, keep: tuple[str, ...] = ()
) -> Any:
    """Apply the policy UDF to a Spark DataFrame: the decision columns plus `error` (and `keep`),
    `candidates` an array of {resolution, probability} structs."""
    from pyspark.sql import functions as F

    typed, bad = _spark_typed(df, domain)
    decided = df.withColumn("_d", udf(F.struct(*typed))).withColumn("_bad", bad)
    refused = F.col("_bad") != ""
    as_invalid = {
        "outcome": F.lit("deferred"),
        "defer_reason": F.lit("invalid"),
        "error": F.col("_bad"),
        "candidates": F.array().cast("array<struct<resolution:string,probability:double>>"),
    }

    def column(c: str) -> Any:
        col = F.col(f"_d.{c}")
        if c in _NULLABLE_TEXT:  # spark_udf casts a missing string to "None" (or "nan")
            col = F.when(col.isin("None", "nan"), F.lit(None).cast("string")).otherwise(col)
        if c not in ("record_id", "policy_version", "decided_at"):
            fixed = as_invalid.get(c, F.lit(None).cast("double" if c in _FLOATS else "string"))
            col = F.when(refused, fixed).otherwise(col)
        return col.alias(c)

    return decided.select(*[column(c) for c in OUTPUT_COLUMNS], *[F.col(k) for k in keep])


def resolve_spark(
    spark: Any,
    udf: Any,
    domain: Domain,
    input_path: Path,
    output_path: Path,
    *,
    on_decided: Decided | None = None,
) -> BatchSummary:
    """Decide a file with Spark (local mode) and write one file in input order.

    The decisions are collected to the driver (`toPandas`, Arrow) and written as one file in the
    input's row order: right for local mode on one machine; a cluster would write partitioned
    output with `df.write` instead.
    """
    summary = BatchSummary(engine="spark")
    t0 = time.perf_counter()
    fmt = file_format(input_path)
    if not input_path.is_file():
        raise BatchIOError(f"{input_path}: no such input file.")
    if fmt == "parquet":
        sdf = spark.read.parquet(str(input_path))
    else:
        header = list(pd.read_csv(input_path, nrows=0).columns)
        sdf = (
            spark.read.option("header", True)
            .option("multiLine", True)
            .option("escape", '"')
            .schema(spark_schema(header))
            .csv(str(input_path))
        )
    from pyspark.sql import functions as F

    # Spread the records over the local cores, then put the decisions back in input order.
    sdf = sdf.withColumn("_row", F.monotonically_increasing_id())
    parts = int(spark.sparkContext.defaultParallelism)
    if parts > 1:
        sdf = sdf.repartition(parts)
    # the records' fields ride along under names no decision column can have, for the log
    fields = [c for c in domain.field_types if c in sdf.columns] if on_decided else []
    kept = [f"_rec{i}" for i in range(len(fields))]
    sdf = sdf.select("*", *[F.col(c).alias(k) for c, k in zip(fields, kept, strict=True)])
    out = decide_spark_frame(spark, udf, sdf, domain, keep=("_row", *kept))
    writer = DecisionWriter(output_path, domain.id)
    try:
        both = out.orderBy("_row").drop("_row").toPandas()
        both["candidates"] = [candidates_json(c) for c in both["candidates"]]
        table = both[list(OUTPUT_COLUMNS)]
        writer.write(table)
        summary.add(table)
        writer.close()
        if on_decided is not None:
            records = both[kept].set_axis(fields, axis=1).assign(**{domain.id: table["record_id"]})
            on_decided(records, table)
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - t0
    return summary
