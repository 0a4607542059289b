"""The frame evaluator's shortcuts for reading text columns give what the per-record path gives.

Arrow text columns are encoded by pyarrow directly (several chunks may carry different
dictionaries), all-text object columns by pandas' text hash table (a column with any non-text
cell must not take it), and gathers run through codes shifted past the missing code -1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from autoresolve.rules import parse_rules

FIELDS = {"c1": "category", "t1": "text", "n1": "number"}
RESOLUTIONS = ["r_a", "r_b"]


def _ruleset():
    many = ", ".join(f'"v{i}"' for i in range(0, 60, 2))
    doc = {
        "rules": [
            {"id": "eq", "when": 'c1 == "v3" and n1 > 2', "then": "r_a"},
            {"id": "many", "when": f"lower(c1) in [{many}] and n1 > 1", "then": "r_b"},
            {"id": "null", "when": "t1 is null and n1 > 3", "then": "r_a"},
            {"id": "rx", "when": 'matches(lower(t1), "^note [0-4]")', "then": "r_b"},
            {"id": "len", "when": 'len(t1) > 6 and c1 != "V7"', "then": "r_a"},
            {"id": "rest", "when": "c1 is not null", "then": "r_b"},
        ]
    }
    return parse_rules(yaml.safe_dump(doc), FIELDS, RESOLUTIONS)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c1 = np.array([f"{'V' if k % 3 else 'v'}{k}" for k in rng.integers(0, 80, n)], dtype=object)
    c1[rng.random(n) < 0.3] = None
    t1 = np.array([f"note {k}" for k in rng.integers(0, 40, n)], dtype=object)
    t1[rng.random(n) < 0.3] = None
    return pd.DataFrame(
        {
            "c1": pd.array(c1, dtype="str"),
            "t1": pd.array(t1, dtype="str"),
            "n1": rng.integers(0, 5, n).astype(float),
        }
    )


def _agree(rs, df: pd.DataFrame) -> None:
    recs = df.astype(object).to_dict("records")
    assert rs.match_frame(df).tolist() == [rs.match_index(r) for r in recs]
    assert rs.rule_masks(df).tolist() == [rs.matches_each(r) for r in recs]


def test_arrow_text_in_several_chunks_with_different_dictionaries() -> None:
    rs = _ruleset()
    df = pd.concat([_frame(1_500, 1), _frame(1_500, 2).iloc[::-1]], ignore_index=True)
    assert df["c1"].array._pa_array.num_chunks > 1  # the case under test
    _agree(rs, df)


def test_arrow_text_one_chunk_and_without_nulls() -> None:
    rs = _ruleset()
    df = _frame(2_000, 3)
    _agree(rs, df)
    full = df.assign(c1=df["c1"].fillna("v3"), t1=df["t1"].fillna("note 1"))
    assert not full["c1"].isna().any()
    _agree(rs, full)


def test_object_text_with_every_kind_of_missing() -> None:
    rs = _ruleset()
    df = _frame(2_000, 4).astype({"c1": object, "t1": object})
    c1 = df["c1"].to_numpy(dtype=object).copy()
    c1[::7] = None
    c1[1::7] = np.nan
    c1[2::7] = pd.NA
    df["c1"] = pd.Series(c1, dtype=object)
    _agree(rs, df)


def test_object_column_with_non_text_cells_is_not_taken_for_text() -> None:
    """pandas' text table would read 3 and True as missing; the rules read "3" and "true"."""
    rs = parse_rules(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "three", "when": 'c1 == "3"', "then": "r_a"},
                    {"id": "true", "when": 'c1 == "true"', "then": "r_b"},
                    {"id": "null", "when": "c1 is null", "then": "r_a"},
                ]
            }
        ),
        FIELDS,
        RESOLUTIONS,
    )
    df = pd.DataFrame({"c1": pd.Series(["a", 3, None, True, "3", 3.0, "true"], dtype=object)})
    assert rs.match_frame(df).tolist() == [-1, 0, 2, 1, 0, 0, 1]
    _agree(rs, df)
