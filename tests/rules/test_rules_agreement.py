"""Property: the vectorised and the per-record evaluators pick the same rule, always.

Hypothesis generates well-typed conditions over a small schema (every operator and function of the
language, nested) and records with missing values, NaN, odd strings and mixed time zones, and
builds the frame in several dtype layouts (inferred, all-object, nullable extension types).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoresolve.rules import parse_rules

FIELDS = {
    "n1": "number",
    "n2": "number",
    "c1": "category",
    "t1": "text",
    "b1": "boolean",
    "d1": "datetime",
}
RESOLUTIONS = ["r_a", "r_b"]

NUMS = st.sampled_from(["0", "1", "2", "-3", "0.5", "2.5", "100", "1e6", "-0.0"])
STRS = st.sampled_from(['"a"', '"b"', '"B"', '"ab"', '""', '" a"', '"é"', '"urgent"', '"x y"'])
DTS = st.sampled_from(['"2024-01-01"', '"2024-06-30T10:00:00Z"', '"2023-12-31T23:59:59"'])


def num(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(["n1", "n2"]), NUMS)
    if depth <= 0:
        return leaf
    sub = num(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        sub.map(lambda s: f"(-{s})"),
        sub.map(lambda s: f"abs({s})"),
        txt(depth - 1).map(lambda s: f"len({s})"),
        st.sampled_from(["year", "month", "day", "hour", "weekday"]).map(lambda f: f"{f}(d1)"),
    )


def txt(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(["c1", "t1"]), STRS)
    if depth <= 0:
        return leaf
    sub = txt(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(["lower", "upper", "trim"]), sub).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
    )


def cond(depth: int) -> st.SearchStrategy[str]:
    cmp_ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    leaves = st.one_of(
        st.tuples(num(1), cmp_ops, num(1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(txt(1), cmp_ops, txt(1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(cmp_ops, DTS).map(lambda t: f"(d1 {t[0]} {t[1]})"),
        st.sampled_from(["b1", "(b1 == true)", "(b1 != false)", "true", "false"]),
        st.tuples(num(1), st.sampled_from(["in", "not in"]), st.lists(NUMS, max_size=3)).map(
            lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"
        ),
        st.tuples(txt(1), st.sampled_from(["in", "not in"]), st.lists(STRS, max_size=3)).map(
            lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"
        ),
        st.tuples(st.sampled_from(["in", "not in"]), st.lists(DTS, max_size=2)).map(
            lambda t: f"(d1 {t[0]} [{', '.join(t[1])}])"
        ),
        st.tuples(
            st.one_of(num(1), txt(1), st.just("d1"), st.just("b1")),
            st.sampled_from(["is null", "is not null"]),
        ).map(lambda t: f"({t[0]} {t[1]})"),
        st.tuples(st.sampled_from(["startswith", "endswith", "contains"]), txt(1), STRS).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.tuples(txt(1), st.sampled_from(['"^a"', '"b$"', '"[aeiou]{2}"', '"(?i)urgent"'])).map(
            lambda t: f"matches({t[0]}, {t[1]})"
        ),
    )
    if depth <= 0:
        return leaves
    sub = cond(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.lists(sub, min_size=3, max_size=4).map(lambda xs: "(" + " or ".join(xs) + ")"),
        sub.map(lambda s: f"(not {s})"),
        st.tuples(sub, st.sampled_from(["==", "!="]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    )


MISSING = st.sampled_from([None, math.nan])
VALUES = {
    "n1": st.one_of(
        MISSING,
        st.integers(-3, 3),
        st.sampled_from([0.5, 2.5, -0.0, 1e6, 100, 1e308, math.inf, -math.inf]),
    ),
    "n2": st.one_of(MISSING, st.integers(-3, 3), st.sampled_from([0.5, 1e-9, 7.25])),
    "c1": st.one_of(MISSING, st.sampled_from(["a", "b", "B", "ab", "", " a", "é", "A B"])),
    "t1": st.one_of(MISSING, st.sampled_from(["urgent", "URGENT now", "x y", "bab", " a "])),
    "b1": st.one_of(st.just(None), st.booleans()),
    "d1": st.one_of(
        st.just(None),
        st.sampled_from(
            [
                "2024-01-01",
                "2024-06-30T12:00:00+02:00",
                "2023-12-31T23:59:59",
                "not a date",
                "2024-06-30T10:00:00Z",
            ]
        ),
        st.datetimes(min_value=datetime(2023, 6, 1), max_value=datetime(2024, 12, 31)).map(
            lambda d: d.replace(microsecond=0)
        ),
        st.just(datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))),
    ),
}
ABSENT = object()


@st.composite
def records(draw: st.DrawFn) -> dict:
    rec = {}
    for name, values in VALUES.items():
        v = draw(st.one_of(st.just(ABSENT), values))
        if v is not ABSENT:
            rec[name] = v
    return rec


def _frame(recs: list[dict], layout: str, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(recs, columns=columns) if recs else pd.DataFrame(columns=columns)
    if layout == "object":
        return df.astype(object)
    if layout == "floatbool":  # what model.records makes of booleans: 1.0 / 0.0 / NaN
        out = df.astype(object)
        if "b1" in out.columns:
            out["b1"] = [1.0 if v is True else 0.0 if v is False else math.nan for v in df["b1"]]
            out["b1"] = out["b1"].astype(float)
        return out
    if layout == "typed":
        out = pd.DataFrame(index=df.index)
        for c in df.columns:
            col = df[c]
            if FIELDS[c] == "number":
                out[c] = pd.array(
                    [None if v is None or v != v else v for v in col], dtype="Float64"
                )
            elif FIELDS[c] == "boolean":
                out[c] = pd.array(
                    [v if isinstance(v, bool) else None for v in col], dtype="boolean"
                )
            elif FIELDS[c] == "datetime":
                out[c] = pd.to_datetime(col, format="ISO8601", errors="coerce", utc=True)
            else:
                out[c] = col.astype("string")
        return out
    return df


def _typed_records(df: pd.DataFrame) -> list[dict]:
    return [dict(zip(df.columns, row, strict=True)) for row in df.itertuples(index=False)]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    whens=st.lists(cond(2), min_size=1, max_size=5),
    recs=st.lists(records(), min_size=0, max_size=12),
    layout=st.sampled_from(["inferred", "object", "typed", "floatbool"]),
    drop=st.sets(st.sampled_from(sorted(FIELDS)), max_size=2),
)
def test_frame_and_record_pick_the_same_rule(whens, recs, layout, drop) -> None:
    doc = {
        "rules": [
            {"id": f"r{i}", "when": w, "then": RESOLUTIONS[i % 2]} for i, w in enumerate(whens)
        ]
    }
    rs = parse_rules(yaml.safe_dump(doc), FIELDS, RESOLUTIONS)
    columns = [c for c in FIELDS if c not in drop]
    recs = [{k: v for k, v in r.items() if k in columns} for r in recs]
    df = _frame(recs, layout, columns)
    framed = rs.match_frame(df)
    # the typed layout changes values (datetimes parsed, NaN → NA): compare against its own rows
    source = _typed_records(df) if layout in ("typed", "floatbool") else recs
    per_record = np.array([rs.match_index(r) for r in source], dtype=np.int64)
    assert framed.tolist() == per_record.tolist(), (whens, source)
    masks = rs.rule_masks(df)
    for row, r in zip(masks, source, strict=True):
        assert row.tolist() == rs.matches_each(r)


def test_regex_sets_agree_with_single_patterns() -> None:
    pats = ["^a", "b$", "[aeiou]{2}", "(?i)urgent", "x|y"]
    doc = {
        "rules": [
            {"id": f"r{i}", "when": f'matches(t1, "{p}")', "then": "r_a"}
            for i, p in enumerate(pats)
        ]
    }
    rs = parse_rules(yaml.safe_dump(doc), FIELDS, RESOLUTIONS)
    assert rs.rules[0].expr.regex_set is not None
    texts = ["a", "ab", "URGENT", "queue", "x", "", None, "éb", "zz"] * 3
    df = pd.DataFrame({"t1": texts})
    assert rs.match_frame(df).tolist() == [rs.match_index({"t1": t}) for t in texts]
    masks = rs.rule_masks(df)
    for row, t in zip(masks, texts, strict=True):
        assert row.tolist() == rs.matches_each({"t1": t})


def test_same_rule_on_a_shuffled_and_reindexed_frame() -> None:
    rs = parse_rules(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "a", "when": 'c1 == "a" and n1 > 1', "then": "r_a"},
                    {"id": "b", "when": "n1 is null or b1", "then": "r_b"},
                ]
            }
        ),
        FIELDS,
        RESOLUTIONS,
    )
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "c1": rng.choice(["a", "b", None], 500),
            "n1": np.where(rng.random(500) < 0.2, np.nan, rng.integers(0, 4, 500)),
            "b1": rng.choice([True, False, None], 500),
        },
        index=rng.permutation(500) + 1000,
    )
    framed = rs.match_frame(df)
    assert framed.tolist() == [rs.match_index(r) for r in df.to_dict("records")]
    assert set(framed.tolist()) == {-1, 0, 1}


def test_datetime_time_zones_and_precision_agree() -> None:
    rs = parse_rules(
        yaml.safe_dump(
            {"rules": [{"id": "a", "when": 'd1 >= "2024-01-01T00:00:00Z"', "then": "r_a"}]}
        ),
        FIELDS,
        RESOLUTIONS,
    )
    vals = [
        "2023-12-31T23:59:59.999999",
        "2024-01-01T01:00:00+02:00",  # 23:00 UTC the day before
        pd.Timestamp("2024-01-01T00:00:00.000000500"),
        pd.Timestamp("2024-01-01T00:00:00", tz="UTC"),
        datetime(2024, 1, 1, tzinfo=UTC),
        "garbage",
        None,
    ]
    recs = [{"d1": v} for v in vals]
    expected = [-1, -1, 0, 0, 0, -1, -1]
    assert [rs.match_index(r) for r in recs] == expected
    assert rs.match_frame(pd.DataFrame({"d1": pd.Series(vals, dtype=object)})).tolist() == expected
    ts = pd.DataFrame(
        {"d1": pd.to_datetime(["2023-12-31 23:59:59", "2024-01-01", None], format="ISO8601")}
    )
    assert rs.match_frame(ts).tolist() == [-1, 0, -1]


def test_many_distinct_values_take_every_spreading_strategy() -> None:
    """Few hits, few misses, and many of both spread differently; all must agree."""
    values = [f"v{i}" for i in range(100)]
    few = ", ".join(f'"v{i}"' for i in range(3))
    most = ", ".join(f'"v{i}"' for i in range(95))
    half = ", ".join(f'"v{i}"' for i in range(50))
    doc = {
        "rules": [
            {"id": "few", "when": f"c1 in [{few}] and n1 > 0", "then": "r_a"},
            {"id": "most", "when": f"c1 in [{most}] and n1 > 1", "then": "r_b"},
            {"id": "half", "when": f"c1 not in [{half}] and n1 > 2", "then": "r_a"},
            {"id": "rx", "when": 'matches(c1, "^v[0-9]$") or matches(c1, "7")', "then": "r_b"},
        ]
    }
    rs = parse_rules(yaml.safe_dump(doc), FIELDS, RESOLUTIONS)
    rng = np.random.default_rng(11)
    n = 3_000
    c1 = rng.choice([*values, None], n)
    n1 = rng.integers(0, 5, n).astype(float)
    df = pd.DataFrame({"c1": c1, "n1": n1})
    recs = df.to_dict("records")
    for layout in (df, df.astype({"c1": object}), df.astype({"c1": "category"})):
        masks = rs.rule_masks(layout)
        assert rs.match_frame(layout).tolist() == [rs.match_index(r) for r in recs]
        assert masks.tolist() == [rs.matches_each(r) for r in recs]
