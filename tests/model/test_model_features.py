"""The feature pipeline: one object, and the one-record path equals the table path exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoresolve.model.domain import parse_domain
from autoresolve.model.features import FeaturePipeline, time_parts, to_category, to_flag, to_number

DOMAIN = parse_domain(
    {
        "name": "feat",
        "id": "rid",
        "label": "res",
        "time": "ts",
        "resolutions": ["a", "b"],
        "fields": {
            "cat": "category",
            "num": "number",
            "flag": "boolean",
            "note": "text",
            "when": "datetime",
        },
    }
)


def _train_frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    notes = np.array(["refund now", "urgent outage!", "hello", None, "invoice copy please"])
    return pd.DataFrame(
        {
            "rid": [f"r{i}" for i in range(n)],
            "ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "cat": rng.choice(["x", "y", "z", "rare1"], n, p=[0.5, 0.3, 0.195, 0.005]),
            "num": rng.normal(size=n),
            "flag": rng.random(n) < 0.5,
            "note": notes[rng.integers(0, 5, n)],
            "when": pd.date_range("2024-02-01", periods=n, freq="37min").astype(str),
            "res": rng.choice(["a", "b"], n),
        }
    )


@pytest.fixture(scope="module")
def pipe() -> FeaturePipeline:
    df = _train_frame()
    return FeaturePipeline(DOMAIN, min_token_count=2).fit(df, df["res"])


odd_text = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["x", "y", "z", " x ", "", "rare1", "never-seen", "NaN", "1", "true"]),
)
values = st.one_of(
    odd_text,
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
dates = st.one_of(
    values,
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-03-01T10:00:00+02:00", "2024-03-01 23:59", "not a date"]),
)
records = st.fixed_dictionaries(
    {},
    optional={
        "cat": values,
        "num": values,
        "flag": values,
        "note": odd_text,
        "when": dates,
        "ts": dates,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=records)
def test_transform_record_equals_one_row_transform(pipe: FeaturePipeline, rec: dict) -> None:
    frame = pd.DataFrame([rec]) if rec else pd.DataFrame(index=[0])
    np.testing.assert_array_equal(pipe.transform_record(rec), pipe.transform(frame))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recs=st.lists(records, min_size=2, max_size=6))
def test_table_rows_equal_records(pipe: FeaturePipeline, recs: list[dict]) -> None:
    frame = pd.DataFrame(recs)
    got = pipe.transform(frame)
    for i, rec in enumerate(recs):
        np.testing.assert_array_equal(pipe.transform_record(rec)[0], got[i])


def test_typed_columns_take_fast_paths_with_same_result(pipe: FeaturePipeline) -> None:
    df = _train_frame(50)
    as_objects = df.astype(object)
    np.testing.assert_array_equal(pipe.transform(df), pipe.transform(as_objects))
    for i in (0, 7, 49):
        np.testing.assert_array_equal(
            pipe.transform_record(df.iloc[i].to_dict())[0], pipe.transform(df)[i]
        )


def test_category_codes_frequent_rare_unseen_missing(pipe: FeaturePipeline) -> None:
    j = list(pipe.feature_names_out_).index("cat")
    rare, unseen = pipe.category_code_of(j)
    codes = pipe.transform(pd.DataFrame({"cat": ["x", "rare1", "brand-new", None]}))[:, j]
    assert codes[0] < rare and codes[1] == rare and codes[2] == unseen and math.isnan(codes[3])


def test_feature_names_and_shape(pipe: FeaturePipeline) -> None:
    names = list(pipe.get_feature_names_out())
    assert names[:2] == ["cat", "num"]
    assert "when__hour" in names and "ts__weekday" in names
    assert any(n.startswith("note__has_") for n in names)
    assert pipe.transform(_train_frame(3)).shape == (3, len(names))
    assert pipe.transform(_train_frame(3)).dtype == np.float64


def test_unfitted_pipeline_says_so() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        FeaturePipeline(DOMAIN).transform(_train_frame(2))


def test_scalar_converters() -> None:
    assert to_category(158.0) == to_category(158) == to_category("158") == "158"
    assert to_category("  ") is None and to_category(float("nan")) is None
    assert (
        to_number("1e3") == 1000.0 and math.isnan(to_number("inf")) and math.isnan(to_number(None))
    )
    assert to_flag("Yes") == 1.0 and to_flag(0) == 0.0 and math.isnan(to_flag("maybe"))
    assert time_parts("2024-03-04T10:30:00+02:00") == (10.0, 0.0)
    assert all(math.isnan(v) for v in time_parts("garbage"))


def test_all_missing_and_constant_columns_are_harmless() -> None:
    df = _train_frame(100)
    df["cat"] = "same"
    df["num"] = np.nan
    df["note"] = None
    p = FeaturePipeline(DOMAIN).fit(df, df["res"])
    X = p.transform(df)
    assert np.isnan(X[:, 1]).all() and (X[:, 0] == 0).all()


def test_vocabulary_ranks_the_cues_that_move_the_most_records() -> None:
    """'excess' keeps the token that puts ~100 more records in a common class than chance;
    chi-square prefers one seen in 8 rare-class records (the old ranking, still selectable)."""
    domain = parse_domain(
        {
            "name": "t",
            "id": "id",
            "label": "y",
            "resolutions": ["common", "other", "rare"],
            "fields": {"note": "text"},
        }
    )
    # common 300 (200 say "pricing"), other 690 (150 say it), rare 10 (8 say "zebra")
    notes = ["pricing"] * 200 + [None] * 100 + ["pricing"] * 150 + [None] * 540
    notes += ["zebra"] * 8 + [None] * 2
    labels = ["common"] * 300 + ["other"] * 690 + ["rare"] * 10
    df = pd.DataFrame({"id": range(len(notes)), "note": notes})
    y = np.array(labels)
    excess = FeaturePipeline(domain, max_tokens=1, min_token_count=5).fit(df, y)
    chi2 = FeaturePipeline(domain, max_tokens=1, min_token_count=5, vocabulary_rank="chi2")
    assert list(excess.vocabulary_["note"]) == ["pricing"]
    assert list(chi2.fit(df, y).vocabulary_["note"]) == ["zebra"]
    with pytest.raises(ValueError, match="vocabulary_rank"):
        FeaturePipeline(domain, vocabulary_rank="tfidf").fit(df, y)
