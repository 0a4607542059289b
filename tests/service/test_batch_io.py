"""Decision files name the id column as the domain does, in CSV and Parquet alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoresolve.model.batch import OUTPUT_COLUMNS
from autoresolve.service.batch_io import DecisionWriter


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_output_names_the_domains_id_column(tmp_path: Path, suffix: str) -> None:
    table = pd.DataFrame([dict.fromkeys(OUTPUT_COLUMNS)]).astype(object)
    table["record_id"] = "S38735"
    table["outcome"] = "deferred"
    table[["confidence", "threshold"]] = float("nan")
    path = tmp_path / f"out{suffix}"
    writer = DecisionWriter(path, "case_id")
    writer.write(table)
    writer.close()
    got = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(got.columns) == ["case_id", *OUTPUT_COLUMNS[1:]]
    assert got["case_id"].tolist() == ["S38735"]
