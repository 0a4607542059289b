"""The documented meaning of the `when` language, checked through both evaluators.

Each case is (condition, record, expected). Every case runs per record and in a one-row frame
(inferred dtypes and all-object), so a semantic rule is documented once and held by both paths.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from autoresolve.rules import RuleError, explain_record, parse_rules

FIELDS = {
    "country": "category",
    "employees": "number",
    "revenue": "number",
    "notes": "text",
    "vip": "boolean",
    "created_at": "datetime",
    "weird name": "category",
}
RES = ["route_emea", "spam", "big"]

CASES = [
    # comparisons with a missing value are false, whichever the operator
    ('country == "FR"', {}, False),
    ('country != "FR"', {}, False),
    ('country != "FR"', {"country": "DE"}, True),
    ("employees > 10", {"employees": None}, False),
    ("employees <= 10", {"employees": math.nan}, False),
    # `not` negates the result of the comparison: missing ⇒ comparison false ⇒ not … true
    ('not country == "FR"', {}, True),
    ("not employees > 10", {"employees": None}, True),
    # in / not in: missing is neither in nor not in
    ('country in ["FR", "DE"]', {"country": "DE"}, True),
    ('country in ["FR", "DE"]', {}, False),
    ('country not in ["FR", "DE"]', {}, False),
    ('country not in ["FR", "DE"]', {"country": "US"}, True),
    ("country in []", {"country": "US"}, False),
    ("employees in [1, 2.5]", {"employees": 1}, True),
    ("employees in [1, 2.5]", {"employees": 2.5}, True),
    # is null sees missing, including NaN and an absent key
    ("employees is null", {}, True),
    ("employees is null", {"employees": math.nan}, True),
    ("employees is not null", {"employees": 0}, True),
    ("notes is null", {"notes": None}, True),
    # a boolean field as a condition is true only when true
    ("vip", {"vip": True}, True),
    ("vip", {}, False),
    ("not vip", {}, True),
    ("vip == false", {}, False),
    ("vip == false", {"vip": False}, True),
    # arithmetic: missing in, missing out; division by zero is missing
    ("employees * 2 > 10", {"employees": 6}, True),
    ("employees + revenue > 0", {"employees": 6}, False),
    ("(employees + revenue) is null", {"employees": 6}, True),
    ("employees / revenue > 1", {"employees": 5, "revenue": 0}, False),
    ("employees / revenue is null", {"employees": 5, "revenue": 0}, True),
    ("employees % revenue is null", {"employees": 5, "revenue": 0}, True),
    ("employees % 3 == 1", {"employees": -2}, True),
    ("-employees < 0", {"employees": 3}, True),
    ("employees - 1 - 1 == 1", {"employees": 3}, True),
    ("employees / 2 * 3 == 6", {"employees": 4}, True),
    # functions: predicates with missing are false, value functions propagate missing
    ('startswith(notes, "re:")', {"notes": "re: hello"}, True),
    ('startswith(notes, "re:")', {}, False),
    ('not startswith(notes, "re:")', {}, True),
    ('endswith(lower(notes), ".io")', {"notes": "ACME.IO"}, True),
    ('contains(notes, "urgent")', {"notes": "very urgent"}, True),
    ('matches(notes, "^[A-Z]{2}-\\\\d+$")', {"notes": "AB-12"}, True),
    ('matches(notes, "^[A-Z]{2}-\\\\d+$")', {"notes": "AB-12x"}, False),
    ("len(notes) > 3", {"notes": "abcd"}, True),
    ("len(notes) is null", {}, True),
    ('trim(upper(country)) == "FR"', {"country": " fr "}, True),
    ("abs(employees) == 3", {"employees": -3}, True),
    # datetimes: ISO strings in the rule are dates; aware values are compared in UTC
    ('created_at >= "2024-01-01"', {"created_at": "2024-01-01T00:00:00"}, True),
    ('created_at >= "2024-01-01"', {"created_at": "2024-01-01T01:00:00+02:00"}, False),
    ('created_at < "2024-01-01"', {"created_at": "not a date"}, False),
    ("year(created_at) == 2024 and month(created_at) == 2", {"created_at": "2024-02-03"}, True),
    ("weekday(created_at) == 0", {"created_at": "2024-01-01"}, True),  # a Monday
    ('created_at in ["2024-01-01"]', {"created_at": "2024-01-01"}, True),
    # text ordering is by code point; equality is exact (case matters)
    ('country < "FR"', {"country": "DE"}, True),
    ('country == "fr"', {"country": "FR"}, False),
    # logic, precedence, literals, quoted names
    ("true", {}, True),
    ("false or vip", {"vip": True}, True),
    ('country == "FR" or country == "DE" and vip', {"country": "FR"}, True),
    ('(country == "FR" or country == "DE") and vip', {"country": "FR"}, False),
    ("not not vip", {"vip": True}, True),
    ("(employees > 1) == (revenue > 1)", {"employees": 2}, False),
    ('`weird name` == "x"', {"weird name": "x"}, True),
    ("country == 'single quoted'", {"country": "single quoted"}, True),
    ('notes == "line\\nbreak"', {"notes": "line\nbreak"}, True),
    # values are read as the field's type, the same way in both evaluators
    ("employees == 12", {"employees": "12"}, True),
    ("vip", {"vip": "true"}, True),
    ('country == "12"', {"country": 12}, True),
]


def _ruleset(when: str):
    return parse_rules(
        yaml.safe_dump({"rules": [{"id": "r", "when": when, "then": "big"}]}), FIELDS, RES
    )


@pytest.mark.parametrize(("when", "record", "expected"), CASES)
def test_meaning(when: str, record: dict, expected: bool) -> None:
    rs = _ruleset(when)
    assert (rs.match_record(record) is not None) == expected, "per record"
    row = pd.DataFrame([record]) if record else pd.DataFrame(index=[0])
    assert (rs.match_frame(row)[0] == 0) == expected, "frame, inferred dtypes"
    assert (rs.match_frame(row.astype(object))[0] == 0) == expected, "frame, object dtypes"


def test_first_matching_rule_wins_and_defer_is_a_rule() -> None:
    text = """
rules:
  - {id: hold, when: 'contains(notes, "gdpr")', then: defer}
  - {id: emea, when: 'country in ["FR", "DE"]', then: route_emea}
  - {id: emea-again, when: 'country == "FR"', then: spam}
"""
    rs = parse_rules(text, FIELDS, RES)
    assert rs.match_record({"country": "FR", "notes": "gdpr"}).id == "hold"
    assert rs.match_record({"country": "FR", "notes": "gdpr"}).defers
    assert rs.match_record({"country": "FR"}).id == "emea"
    assert rs.match_record({"country": "US"}) is None
    df = pd.DataFrame({"country": ["FR", "FR", "US"], "notes": ["gdpr", None, None]})
    assert rs.match_frame(df).tolist() == [0, 1, -1]
    out = rs.resolutions_frame(df)
    assert out["rule_id"].tolist() == ["hold", "emea", None]


def test_empty_rule_file_is_valid() -> None:
    rs = parse_rules("rules: []\n", FIELDS, RES)
    assert len(rs) == 0 and rs.match_record({"country": "FR"}) is None
    assert rs.match_frame(pd.DataFrame({"country": ["FR"]})).tolist() == [-1]
    assert rs.run_examples() == []


def test_version_is_a_content_hash() -> None:
    a = _ruleset('country == "FR"')
    b = parse_rules(
        '# a comment\nrules:\n  - id: r\n    when: country=="FR"   # spacing\n    then: big\n'
        "    note: notes do not change behaviour\n",
        FIELDS,
        RES,
    )
    c = _ruleset('country == "DE"')
    assert len(a.version) == 12 and int(a.version, 16) >= 0
    assert a.version == b.version
    assert a.version != c.version


def test_ruleset_pickles_by_rebuilding() -> None:
    import pickle

    rs = _ruleset('matches(notes, "^a") and employees > 1')
    back = pickle.loads(pickle.dumps(rs))
    assert back.version == rs.version
    assert back.match_record({"notes": "ab", "employees": 2}).id == "r"


LOAD_ERRORS = [
    ('countyr == "FR"', "Did you mean 'country'", 3, 11),
    ('employees == "many"', "cannot compare number field 'employees' with string", 3, 21),
    ("vip > 1", "cannot compare boolean field 'vip' with number", 3, 15),
    ("employees", "must be a condition", 3, 11),
    ("country + 1 > 2", "works on numbers", 3, 19),
    ("country == null", "is null", 3, 22),
    ('created_at > "yesterday"', "ISO-8601", 3, 24),
    ("employees = 3", "use ==", 3, 21),
    ("1 < employees < 3", "do not chain", 3, 25),
    ('country == "FR" &&  vip', "use `and`", 3, 27),
    ('lower(country, "x") == "a"', "takes 1 argument", 3, 11),
    ("startswith(country, notes)", "must be a literal string", 3, 31),
    ("len(employees) > 1", "must be a string", 3, 15),
    ('country in ["FR", 1]', "mixes", 3, 22),
    ('employees in ["1"]', "is a string", 3, 25),
    ("True", "write true", 3, 11),
    ("", "`when` must be", 3, 10),
]


@pytest.mark.parametrize(("when", "fragment", "line", "column"), LOAD_ERRORS)
def test_errors_name_file_rule_line_and_column(when, fragment, line, column) -> None:
    text = f"rules:\n  - id: r1\n    when: {when}\n    then: big\n"
    with pytest.raises(RuleError) as info:
        parse_rules(text, FIELDS, RES, source="data/x/rules.yaml")
    err = info.value
    assert fragment in str(err), str(err)
    assert (err.file, err.rule_id, err.line, err.column) == (
        "data/x/rules.yaml",
        "r1",
        line,
        column,
    ), str(err)
    assert str(err).startswith(f"data/x/rules.yaml:{line}:{column}: rule 'r1':")


@pytest.mark.parametrize("style", [">", "|", ""])
def test_multi_line_condition_error_points_into_the_right_line(style: str) -> None:
    text = (
        f'rules:\n  - id: r1\n    when: {style}\n      country == "FR"\n'
        "      and employes > 3\n    then: big\n"
    )
    with pytest.raises(RuleError) as info:
        parse_rules(text, FIELDS, RES)
    assert (info.value.line, info.value.column) == (5, 11)
    assert "Did you mean 'employees'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "rules:\n  - {id: a, when: vip, then: big}\n  - {id: a, when: vip, then: spam}\n",
            "duplicate rule id",
        ),
        ("rules:\n  - {id: a, when: vip, then: bigg}\n", "Did you mean 'big'"),
        ("rules:\n  - {id: a, when: vip}\n", "missing `then`"),
        ("rules:\n  - {when: vip, then: big}\n", "without `id`"),
        ("rulez: []\n", "only `rules:`"),
        ("rules: 3\n", "must be a list"),
        (
            "rules:\n  - {id: a, when: vip, then: big, examples: [{record: {vip: true}}]}\n",
            "needs both",
        ),
    ],
)
def test_structure_errors(text: str, fragment: str) -> None:
    with pytest.raises(RuleError, match=r"rules\.yaml:") as info:
        parse_rules(text, FIELDS, RES)
    assert fragment in str(info.value), str(info.value)


def test_examples_run_and_failures_are_reported() -> None:
    text = """
rules:
  - id: emea
    when: country in ["FR", "DE"]
    then: route_emea
    examples:
      - {record: {country: FR}, expect: route_emea}
      - {record: {country: US}, expect: null}
      - {record: {country: DE}, expect: spam}
  - id: hold
    when: vip
    then: defer
    examples:
      - {record: {vip: true}, expect: defer}
      - {record: {vip: true, country: FR}, expect: defer}
"""
    rs = parse_rules(text, FIELDS, RES)
    failures = rs.run_examples()
    assert [(f.rule_id, f.index, f.expected, f.got, f.fired) for f in failures] == [
        ("emea", 3, "spam", "route_emea", "emea"),
        ("hold", 2, "defer", "route_emea", "emea"),
    ]
    assert failures[0].line == 9
    assert "expected spam" in failures[0].message


def test_explain_names_the_rule_that_fired_and_why_others_did_not() -> None:
    text = """
rules:
  - {id: big, when: 'employees > 1000 and country == "FR"', then: big}
  - {id: emea, when: 'country in ["FR", "DE"]', then: route_emea}
  - {id: spam, when: 'contains(notes, "casino")', then: spam}
"""
    rs = parse_rules(text, FIELDS, RES)
    trace = explain_record(rs, {"country": "FR", "employees": 10})
    assert [(t.rule_id, t.matched, t.fired) for t in trace] == [
        ("big", False, False),
        ("emea", True, True),
        ("spam", False, False),
    ]
    assert "employees > 1000 → false (employees = 10)" in trace[0].reason
    assert "notes = missing" in trace[2].reason
    assert trace[1].to_dict()["fired"] is True
    negated = parse_rules("rules:\n  - {id: v, when: not vip, then: big}\n", FIELDS, RES)
    (vip,) = explain_record(negated, {})
    assert vip.matched and vip.reason == "not (vip → false (vip = missing)) → true"


def test_mixed_and_unhashable_object_columns_read_like_records() -> None:
    """pandas merges True, 1 and 1.0 when factorising; the frame path must not."""
    rs = parse_rules(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "t", "when": 'country == "true"', "then": "big"},
                    {"id": "one", "when": 'country == "1"', "then": "spam"},
                    {"id": "n", "when": "employees == 1", "then": "route_emea"},
                ]
            }
        ),
        FIELDS,
        RES,
    )
    values = [True, 1, 1.0, "1", ["x"], {"a": 1}, None, math.nan, "true"]
    df = pd.DataFrame(
        {"country": pd.Series(values, dtype=object), "employees": pd.Series(values, dtype=object)}
    )
    expected = [rs.match_index({"country": v, "employees": v}) for v in values]
    assert rs.match_frame(df).tolist() == expected
    assert expected[:4] == [0, 1, 1, 1]


def test_extreme_and_odd_numbers_read_the_same_way() -> None:
    from decimal import Decimal

    rs = _ruleset("employees > 1e300 or employees is null")
    values = [10**400, -(10**400), Decimal("5"), Decimal("NaN"), 1 + 2j, "1e999", "inf", "x"]
    expected = [rs.match_index({"employees": v}) for v in values]
    assert expected == [0, -1, -1, 0, 0, 0, 0, 0]
    df = pd.DataFrame({"employees": pd.Series(values, dtype=object)})
    assert rs.match_frame(df).tolist() == expected
    huge = _ruleset('country == "x"')
    assert huge.match_record({"country": 10**5000}) is None
    assert huge.match_frame(
        pd.DataFrame({"country": pd.Series([10**5000], dtype=object)})
    ).tolist() == [-1]


def test_empty_and_odd_frames() -> None:
    rs = _ruleset('country == "FR" or employees is null')
    empty = pd.DataFrame({"country": pd.Series([], dtype=object)})
    assert rs.match_frame(empty).tolist() == []
    assert rs.rule_masks(empty).shape == (0, 1)
    assert rs.match_frame(pd.DataFrame(index=range(3))).tolist() == [0, 0, 0]  # all missing
    dup = pd.DataFrame([["FR", "DE"]], columns=["country", "country"])
    with pytest.raises(ValueError, match="more than one column named 'country'"):
        rs.match_frame(dup)
    with pytest.raises(TypeError, match="DataFrame"):
        rs.match_frame([{"country": "FR"}])


def test_lone_surrogates_do_not_break_patterns() -> None:
    doc = {
        "rules": [
            {"id": "a", "when": 'matches(notes, "a$")', "then": "big"},
            {"id": "b", "when": 'matches(notes, "^x")', "then": "spam"},
        ]
    }
    rs = parse_rules(yaml.safe_dump(doc), FIELDS, RES)
    texts = ["\udc80a", "x\udc80", "plain"]
    expected = [rs.match_index({"notes": t}) for t in texts]
    assert expected == [0, 1, -1]
    assert (
        rs.match_frame(pd.DataFrame({"notes": pd.Series(texts, dtype=object)})).tolist() == expected
    )


def test_rules_are_hashable_and_compare_by_content() -> None:
    text = (
        "rules:\n  - {id: a, when: vip, then: big, "
        "examples: [{record: {vip: true}, expect: big}]}\n"
    )
    a, b = parse_rules(text, FIELDS, RES), parse_rules(text, FIELDS, RES)
    assert a.rules[0] == b.rules[0] and {a.rules[0]: 1}[b.rules[0]] == 1


def test_first_hit_with_hundreds_of_rules() -> None:
    rules = [{"id": f"r{i}", "when": f"employees >= {i}", "then": "big"} for i in range(300)]
    rs = parse_rules(yaml.safe_dump({"rules": rules[::-1]}), FIELDS, RES)
    values = [0, 1, 150, 299, 400, None, -5]
    df = pd.DataFrame({"employees": values})
    expected = [rs.match_index({"employees": v}) for v in values]
    assert expected[:2] == [299, 298] and expected[-2:] == [-1, -1]
    assert rs.match_frame(df).tolist() == expected
