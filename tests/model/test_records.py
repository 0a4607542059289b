"""Records and tables are brought to the schema's types, or refused naming the field (and row)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoresolve.model.domain import load_domain
from autoresolve.model.generators import crm
from autoresolve.model.records import RecordError, coerce_frame, coerce_record
from tests.support import CRM_DIR

CRM = CRM_DIR


@pytest.fixture(scope="module")
def domain():
    return load_domain(CRM)


def test_record_in_schema_types(domain) -> None:
    out = coerce_record(
        domain,
        {
            "record_id": 42,
            "created_at": "2025-03-01T09:30:00Z",
            "country": " DE ",
            "employees": "120",
            "deal_amount": 5000,
            "is_free_email": "no",
            "owner_active": 1,
            "is_existing_customer": True,
            "partner_code": 1234,
            "notes": "",
            "resolution": "merge_duplicate",
        },
    )
    assert out["record_id"] == "42"
    assert out["created_at"] == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert out["country"] == "DE" and out["partner_code"] == "1234"
    assert out["employees"] == 120.0 and isinstance(out["deal_amount"], float)
    assert out["is_free_email"] is False and out["owner_active"] is True
    assert out["notes"] is None and out["territory"] is None
    assert out["resolution"] == "merge_duplicate"
    assert set(domain.field_types) <= set(out)


def test_naive_and_offset_timestamps_become_utc(domain) -> None:
    naive = coerce_record(domain, {"record_id": "a", "created_at": "2025-03-01T09:30:00"})
    offset = coerce_record(domain, {"record_id": "a", "created_at": "2025-03-01T10:30:00+01:00"})
    assert naive["created_at"] == offset["created_at"]
    assert offset["created_at"].tzinfo == UTC


@pytest.mark.parametrize(
    ("record", "field", "hint"),
    [
        ({"record_id": "a", "employes": 3}, "employes", "Did you mean 'employees'"),
        ({"record_id": "a", "employees": math.nan}, "employees", "not a finite number"),
        ({"record_id": "a", "employees": math.inf}, "employees", "not a finite number"),
        ({"record_id": "a", "employees": "1e999"}, "employees", "not a finite number"),
        ({"record_id": "a", "employees": "abc"}, "employees", "expected a number"),
        ({"record_id": "a", "employees": True}, "employees", "boolean"),
        ({"record_id": "a", "employees": [1]}, "employees", "expected a number"),
        ({"record_id": "a", "country": ["DE"]}, "country", "expected a string"),
        ({"record_id": "a", "notes": 5}, "notes", "expected a string"),
        ({"record_id": "a", "owner_active": "maybe"}, "owner_active", "true or false"),
        ({"record_id": "a", "owner_active": 2}, "owner_active", "true or false"),
        ({"record_id": "a", "created_at": "yesterday"}, "created_at", "ISO-8601"),
        ({"record_id": "a", "created_at": 1700000000}, "created_at", "ISO-8601"),
        ({"employees": 3}, "record_id", "needs an id"),
        ({"record_id": None}, "record_id", "needs an id"),
        ({"record_id": " "}, "record_id", "needs an id"),
    ],
)
def test_bad_records_name_the_field(domain, record: dict, field: str, hint: str) -> None:
    with pytest.raises(RecordError) as info:
        coerce_record(domain, record)
    assert info.value.field == field
    assert f"'{field}'" in str(info.value) and hint in str(info.value)


def test_record_must_be_a_mapping(domain) -> None:
    with pytest.raises(RecordError, match="JSON object"):
        coerce_record(domain, ["record_id", "a"])  # type: ignore[arg-type]


def test_id_optional_when_asked(domain) -> None:
    assert coerce_record(domain, {"country": "DE"}, require_id=False)["record_id"] is None


def _csv_like() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [1, 2, 3],
            "created_at": ["2025-01-02T03:04:05Z", "2025-01-02 04:04:05+01:00", ""],
            "country": ["NA", " ", "DE"],
            "partner_code": [1234.0, np.nan, 77.0],
            "employees": ["12", "", "NaN"],
            "is_free_email": ["true", "No", "1"],
            "owner_active": ["", "FALSE", "yes"],
            "resolution": ["merge_duplicate", None, "route_smb_queue"],
            "extra": ["x", "y", "z"],
        }
    )


def test_frame_in_schema_types(domain) -> None:
    raw = _csv_like()
    before = raw.copy()
    out = coerce_frame(domain, raw)
    pd.testing.assert_frame_equal(raw, before)
    assert list(out["record_id"]) == ["1", "2", "3"]
    assert list(out["country"]) == ["NA", None, "DE"]
    assert list(out["partner_code"]) == ["1234", None, "77"]
    assert out["employees"].dtype == np.float64 and out["employees"].isna().tolist() == [
        False,
        True,
        True,
    ]
    assert out["is_free_email"].tolist() == [1.0, 0.0, 1.0]
    assert out["owner_active"].fillna(-1).tolist() == [-1.0, 0.0, 1.0]
    when = out["created_at"]
    assert str(when.dtype) == "datetime64[us, UTC]"
    assert when.iloc[0] == when.iloc[1] and pd.isna(when.iloc[2])
    assert out["territory"].isna().all() and out["territory"].dtype == object
    assert out["deal_amount"].isna().all() and out["deal_amount"].dtype == np.float64
    assert list(out.columns[:2]) == ["record_id", "created_at"]
    assert list(out.columns[-2:]) == ["resolution", "extra"]
    assert out["resolution"].tolist() == ["merge_duplicate", None, "route_smb_queue"]


@pytest.mark.parametrize(
    ("column", "values", "row", "hint"),
    [
        ("employees", ["12", "twelve", "x"], 1, "expected a number, got 'twelve' at row 1"),
        ("employees", [1.0, np.inf, 2.0], 1, "finite"),
        ("employees", [True, False, True], None, "booleans"),
        ("owner_active", ["true", "maybe", ""], 1, "true/false"),
        ("owner_active", [0, 2, 1], 1, "true/false"),
        ("created_at", ["2025-01-01", "soon", None], 1, "ISO-8601"),
    ],
)
def test_bad_frames_name_column_row_and_value(domain, column, values, row, hint) -> None:
    df = pd.DataFrame({"record_id": ["a", "b", "c"], column: values})
    with pytest.raises(RecordError) as info:
        coerce_frame(domain, df)
    assert info.value.field == column and info.value.row == row
    assert f"'{column}'" in str(info.value) and hint in str(info.value)


def test_frame_and_record_paths_agree(domain) -> None:
    df = crm.generate(300, seed=3)
    frame = coerce_frame(domain, df)
    for i in range(0, 300, 7):
        raw = {
            k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in df.iloc[i].items()
        }
        rec = coerce_record(domain, raw)
        for name, value in rec.items():
            f = frame[name].iloc[i]
            if value is None:
                assert pd.isna(f), name
            else:
                assert value == f, name


def test_generated_frame_round_trips_through_csv(domain, tmp_path: Path) -> None:
    df = crm.generate(500, seed=2)
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    back = coerce_frame(domain, pd.read_csv(path, dtype={"partner_code": str}))
    pd.testing.assert_frame_equal(back, df)
