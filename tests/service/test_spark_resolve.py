"""`mlflow.pyfunc.spark_udf` in Spark local mode decides exactly like the in-process policy."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # pyspark about pandas 3
]
pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (java on PATH or JAVA_HOME)", allow_module_level=True)

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model import registry  # noqa: E402
from autoresolve.model.batch import candidates_json, decision_table  # noqa: E402
from autoresolve.model.domain import load_domain  # noqa: E402
from autoresolve.model.generators.crm import generate  # noqa: E402
from autoresolve.model.train import train_policy  # noqa: E402
from autoresolve.service import batch_io  # noqa: E402
from tests.support import CRM_DIR  # noqa: E402

# A target small data can certify (0.90 at confidence 0.80): the model must resolve some records.
_CRM = load_domain(CRM_DIR)
DOMAIN = dataclasses.replace(
    _CRM, policy=dataclasses.replace(_CRM.policy, target_precision=0.9, confidence=0.8)
)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).map(lambda v: None if pd.isna(v) else v).reset_index(drop=True)


@pytest.fixture(scope="module")
def spark_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("spark")
    registry.configure(f"sqlite:///{home / 'mlflow.db'}", home / "artifacts")
    df = generate(15_000, seed=1)
    policy, report = train_policy(DOMAIN, df, seed=0)
    version = registry.log_policy(policy, report, run_name="spark-test")
    policy = registry.load_policy("crm", version)
    spark = batch_io.spark_session("local[1]")
    udf = registry.spark_udf(spark, "crm", "champion")
    records = df.tail(300).drop(columns=[DOMAIN.label]).reset_index(drop=True)
    yield {"spark": spark, "udf": udf, "policy": policy, "records": records, "home": home}
    spark.stop()


def test_spark_udf_gives_the_in_process_decisions(spark_env: dict[str, Any]) -> None:
    records = spark_env["records"]
    path = spark_env["home"] / "records.parquet"
    records.to_parquet(path, index=False)
    sdf = spark_env["spark"].read.parquet(str(path))
    got = batch_io.decide_spark_frame(spark_env["spark"], spark_env["udf"], sdf, DOMAIN).toPandas()
    assert isinstance(got["candidates"].iloc[0][0]["probability"], float)  # structs, not text
    got["candidates"] = [candidates_json(c) for c in got["candidates"]]
    want = decision_table(spark_env["policy"].decide_frame(records))
    cols = [c for c in want.columns if c != "decided_at"]
    assert len(got) == len(records)
    pd.testing.assert_frame_equal(_plain(got[cols]), _plain(want[cols]))
    assert (want["source"] == "model").any(), "the sample should exercise the model"


def test_resolve_spark_engine_matches_local_engine_on_csv(
    spark_env: dict[str, Any], tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    records = spark_env["records"].astype(object)
    records.loc[7, "employees"] = "lots"  # refused alike by both engines
    records.loc[9, "is_free_email"] = "maybe"
    records.to_csv(src, index=False)
    seen: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {"local": [], "spark": []}
    local = batch_io.resolve_local(
        spark_env["policy"],
        src,
        tmp_path / "local.csv",
        on_decided=lambda r, t: seen["local"].append((r, t)),
    )
    remote = batch_io.resolve_spark(
        spark_env["spark"],
        spark_env["udf"],
        DOMAIN,
        src,
        tmp_path / "spark.csv",
        on_decided=lambda r, t: seen["spark"].append((r, t)),
    )
    assert local.records == remote.records == len(spark_env["records"])
    for engine, parts in seen.items():  # what `resolve` logs: each record with its decision
        records = pd.concat([r for r, _ in parts], ignore_index=True)
        table = pd.concat([t for _, t in parts], ignore_index=True)
        assert records[DOMAIN.id].tolist() == table["record_id"].tolist(), engine
        logged = batch_io.logged_records(DOMAIN, records)
        assert set(logged[0]) == {DOMAIN.id, *DOMAIN.field_types}, engine
    a = pd.read_csv(tmp_path / "local.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(tmp_path / "spark.csv", dtype=str, keep_default_na=False)
    cols = [c for c in a.columns if c not in ("decided_at", "error")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert (b.loc[[7, 9], "defer_reason"] == "invalid").all()
    assert "employees" in b.loc[7, "error"] and "is_free_email" in b.loc[9, "error"]
    assert (a["error"] == "").sum() == (b["error"] == "").sum() == len(a) - 2
