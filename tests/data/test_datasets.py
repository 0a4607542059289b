"""Loading a domain's data: formats, generation on first use, bad files refused clearly."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.datasets import (
    DatasetError,
    load_domain_frame,
    period_index,
    sort_by_time,
    write_table,
)
from autoresolve.model.domain import DomainError, load_domain
from autoresolve.model.generators import crm
from tests.support import CRM_DIR

CRM = CRM_DIR


@pytest.fixture
def crm_copy(tmp_path: Path):
    """A private copy of the CRM domain folder, without its data file."""
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("domain.yaml", "rules.yaml"):
        shutil.copy(CRM / name, folder / name)
    return load_domain(folder)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return crm.generate(400, seed=11)


def test_generated_on_first_use_then_read(crm_copy) -> None:
    assert not crm_copy.data_path.exists()
    first = load_domain_frame(crm_copy)
    assert crm_copy.data_path.is_file() and crm_copy.data_path.name == "records.csv.gz"
    with gzip.open(crm_copy.data_path, "rt") as fh:
        header = fh.readline()
    assert header.startswith("record_id,created_at,") and "case_kind" not in header
    pd.testing.assert_frame_equal(first, crm.generate())
    again = load_domain_frame(crm_copy)
    pd.testing.assert_frame_equal(first, again)
    assert not list(crm_copy.data_path.parent.glob(".*.tmp"))


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz", "r.csv.bz2", "r.tsv", "r.parquet", "r.pq"])
def test_formats_round_trip(crm_copy, small, tmp_path: Path, name: str) -> None:
    path = write_table(small, tmp_path / name, crm_copy)
    pd.testing.assert_frame_equal(load_domain_frame(crm_copy, path), small)


def test_csv_keeps_namibia_and_codes(crm_copy, small, tmp_path: Path) -> None:
    df = small.head(3).copy()
    df["country"] = ["NA", None, "DE"]
    df["partner_code"] = ["0042", None, "PRT-1"]
    path = write_table(df, tmp_path / "r.csv", crm_copy)
    out = load_domain_frame(crm_copy, path)
    assert out["country"].tolist() == ["NA", None, "DE"]
    assert out["partner_code"].tolist() == ["0042", None, "PRT-1"]


def test_unsupported_suffix(crm_copy, tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_text("x")
    with pytest.raises(DatasetError, match=r"unsupported file type '\.xlsx'.*\.csv\.gz"):
        load_domain_frame(crm_copy, path)


def test_missing_file(crm_copy, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such data file") as info:
        load_domain_frame(crm_copy, tmp_path / "nope.csv")
    assert str(tmp_path / "nope.csv") in str(info.value)


@pytest.mark.parametrize("name", ["r.csv.gz", "r.parquet"])
def test_unreadable_file(crm_copy, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01 definitely not " + name.encode())
    with pytest.raises(DatasetError, match="cannot read") as info:
        load_domain_frame(crm_copy, path)
    assert str(path) in str(info.value)


def test_missing_label_or_id_refused(crm_copy, small, tmp_path: Path) -> None:
    path = write_table(small.drop(columns="resolution"), tmp_path / "r.csv", crm_copy)
    with pytest.raises(DomainError, match="'resolution'"):
        load_domain_frame(crm_copy, path)
    assert "resolution" not in load_domain_frame(crm_copy, path, require_label=False).columns
    path = write_table(small.drop(columns="record_id"), tmp_path / "s.csv", crm_copy)
    with pytest.raises(DomainError, match="'record_id'"):
        load_domain_frame(crm_copy, path, require_label=False)


def test_bad_value_names_file_column_and_row(crm_copy, small, tmp_path: Path) -> None:
    df = small.head(5).copy()
    df["page_views"] = df["page_views"].astype(object)
    df.loc[3, "page_views"] = "many"
    path = write_table(df, tmp_path / "r.csv", crm_copy)
    with pytest.raises(DatasetError) as info:
        load_domain_frame(crm_copy, path)
    msg = str(info.value)
    assert str(path) in msg and "'page_views'" in msg and "'many'" in msg and "row 3" in msg


def test_no_generator_and_no_file(tmp_path: Path) -> None:
    text = (CRM / "domain.yaml").read_text().replace("generator: crm", "")
    (tmp_path / "domain.yaml").write_text(text)
    with pytest.raises(DatasetError, match="no such data file"):
        load_domain_frame(load_domain(tmp_path))


def test_sort_by_time_is_stable_with_missing_last(crm_copy) -> None:
    df = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "created_at": pd.to_datetime(
                ["2025-02-01", None, "2025-01-01", "2025-02-01"], utc=True
            ),
        }
    )
    assert sort_by_time(crm_copy, df)["record_id"].tolist() == ["c", "a", "d", "b"]


def test_period_index_by_month(crm_copy, small) -> None:
    periods = period_index(small, crm_copy)
    assert len(periods) == len(small) and periods.is_monotonic_increasing
    assert str(periods.iloc[0]) == "2025-01" and str(periods.iloc[-1]) == "2025-12"
    assert periods.nunique() == 12
    as_text = small.assign(created_at=small["created_at"].astype(str))
    assert (period_index(as_text, crm_copy) == periods).all()
    with pytest.raises(DomainError, match="time column"):
        period_index(small.drop(columns="created_at"), crm_copy)
    assert np.array_equal(sort_by_time(crm_copy, small)["record_id"], small["record_id"])


def test_stale_generated_file_is_made_again(crm_copy, small, monkeypatch) -> None:
    from autoresolve.model import datasets
    from autoresolve.model.generators import Generator

    fixed = Generator(generate=lambda n, seed: small, default_n=len(small), default_seed=0)
    monkeypatch.setattr(datasets, "domain_generator", lambda domain: fixed)
    first = load_domain_frame(crm_copy)
    assert len(first) == len(small) and datasets.is_current(crm_copy)
    stamp = crm_copy.data_path.with_name(crm_copy.data_path.name + ".stamp")
    write_table(small.head(5), crm_copy.data_path, crm_copy)
    assert len(load_domain_frame(crm_copy)) == 5  # current stamp: the file is trusted as it is
    stamp.write_text("made-by-an-older-generator\n")
    assert not datasets.is_current(crm_copy)
    assert len(load_domain_frame(crm_copy)) == len(small)
    assert datasets.is_current(crm_copy)
