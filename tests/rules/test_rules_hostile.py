"""Hostile rule files: each is refused with a clear RuleError, quickly, and nothing else changes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoresolve.rules import RuleError, load_rules, parse_rules

FIELDS = {"country": "category", "employees": "number", "notes": "text", "vip": "boolean"}
RESOLUTIONS = ["route_emea", "spam"]


def _rule(when: str) -> str:
    return f"rules:\n  - id: r1\n    when: '{when}'\n    then: route_emea\n"


BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
rules: [*h]
"""

HOSTILE = {
    "dunder import": (_rule('__import__("os")'), "unknown function '__import__'"),
    "dunder import bare": (_rule('__import__ == "os"'), "no Python names"),
    "class walk": (_rule("().__class__"), "attribute access"),
    "attribute": (_rule('notes.lower() == "x"'), "attribute access"),
    "subscript": (_rule('notes[0] == "x"'), "subscripts"),
    "lambda": (_rule("lambda: 1"), "colons"),
    "comprehension": (_rule("[x for x in notes]"), "list items must be literals"),
    "import statement": (_rule("import os"), "unexpected 'os'"),
    "eval call": (_rule('eval("1")'), "unknown function 'eval'"),
    "unknown function": (_rule("open(notes)"), "unknown function 'open'"),
    "walrus": (_rule("(x := 1)"), "colons"),
    "100k terms": (_rule(" or ".join(["employees > 1"] * 100_000)), "the limit is 512,000"),
    "30k-char expression": (_rule(" or ".join(["employees > 1"] * 2_000)), "characters long"),
    "5k tokens": (_rule(" or ".join(["vip"] * 2_500)), "tokens"),
    "1000-deep parens": (_rule("(" * 1000 + "vip" + ")" * 1000), "nested more than"),
    "1000-deep not": (_rule("not " * 1000 + "vip"), "nested more than"),
    "1000-deep minus": (_rule("-" * 1000 + "employees > 1"), "nested more than"),
    "1000-deep calls": (_rule("lower(" * 1000 + "notes" + ")" * 1000 + ' == "x"'), "nested more"),
    "1000-deep lists": (_rule("country in " + "[" * 1000 + "]" * 1000), "nested more"),
    "long arithmetic chain": (_rule("employees" + " + 1" * 1500 + " > 0"), "nested more than"),
    "catastrophic regex backref": (_rule('matches(notes, "(a+)+\\\\1")'), "regular expression"),
    "look-around": (_rule('matches(notes, "(?=a)")'), "regular expression"),
    "over-long regex": (_rule('matches(notes, "' + "a" * 600 + '")'), "longer than"),
    "regex as a field": (_rule("matches(notes, country)"), "must be a literal string"),
    "billion laughs": (BILLION_LAUGHS, "aliases"),
    "deep yaml": ("rules: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    "not a mapping": ("- just\n- a list\n", "a rule file is a mapping"),
    "python tag": (
        "rules:\n  - id: r1\n    when: vip\n    then: spam\n    examples:\n"
        "      - {record: !!python/object/apply:os.system ['true'], expect: null}\n",
        "invalid value",
    ),
    "wrong example type": (
        "rules:\n  - id: r1\n    when: employees > 5\n    then: route_emea\n"
        "    examples:\n      - {record: {employees: many}, expect: route_emea}\n",
        "example 1: field 'employees' is number",
    ),
    "norway example": (
        'rules:\n  - id: r1\n    when: country == "NO"\n    then: route_emea\n'
        "    examples:\n      - {record: {country: NO}, expect: route_emea}\n",
        "Quote it",
    ),
    "example unknown field": (
        "rules:\n  - id: r1\n    when: vip\n    then: route_emea\n"
        "    examples:\n      - {record: {countri: FR}, expect: null}\n",
        "Did you mean 'country'",
    ),
    "example bad expect": (
        "rules:\n  - id: r1\n    when: vip\n    then: route_emea\n"
        "    examples:\n      - {record: {vip: true}, expect: route_emeaa}\n",
        "Did you mean 'route_emea'",
    ),
    "unknown key": ("rules:\n  - id: r1\n    when: vip\n    than: spam\n", "Did you mean 'then'"),
    "null when": ("rules:\n  - id: r1\n    when:\n    then: spam\n", "`when` must be"),
    "empty file": ("", "empty"),
    "control chars": ('rules:\n  - id: r1\n    when: "vip\x07"\n    then: spam\n', "YAML"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_refused_quickly(name: str) -> None:
    text, fragment = HOSTILE[name]
    # CPU time of this process, not wall time: a busy machine must not fail it, while an
    # expansion (billion laughs) or a backtracking blow-up would take minutes of CPU.
    t0 = time.process_time()
    with pytest.raises(RuleError) as info:
        parse_rules(text, FIELDS, RESOLUTIONS, source="hostile.yaml")
    assert time.process_time() - t0 < 5.0, "refusal must not expand or backtrack"
    assert fragment in str(info.value), str(info.value)
    assert info.value.file == "hostile.yaml"
    assert "Traceback" not in str(info.value)


def test_binary_garbage_file(tmp_path: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules(p, FIELDS, RESOLUTIONS)
    p.write_bytes(b"rules:\x00\x01\x02 []")
    with pytest.raises(RuleError, match="NUL"):
        load_rules(p, FIELDS, RESOLUTIONS)


def test_refusal_changes_nothing_and_good_file_still_loads(tmp_path: Path) -> None:
    good = parse_rules(_rule("vip"), FIELDS, RESOLUTIONS)
    before = (good.version, [r.id for r in good.rules])
    for text, _ in HOSTILE.values():
        with pytest.raises(RuleError):
            parse_rules(text, FIELDS, RESOLUTIONS)
    assert (good.version, [r.id for r in good.rules]) == before
    assert good.match_record({"vip": True}) is good.rules[0]


def test_hostile_regex_subject_stays_linear() -> None:
    rs = parse_rules(_rule('matches(notes, "(a|aa)*$")'), FIELDS, RESOLUTIONS)
    t0 = time.perf_counter()
    rs.match_record({"notes": "a" * 100_000 + "b"})
    assert time.perf_counter() - t0 < 1.0


TOKENS = st.sampled_from(
    [
        "country",
        "employees",
        "notes",
        "vip",
        "nope",
        "(",
        ")",
        "[",
        "]",
        ",",
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "==",
        "!=",
        "<",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "1",
        "2.5",
        '"FR"',
        "'x'",
        "lower",
        "len(",
        "matches(",
        "startswith(",
        ".",
        "__class__",
        "`v`",
        "lambda",
        ":",
        "=",
        "!",
        "&&",
        "\\",
        '"',
        "\x00",
        "é",
        "1e999",
        "--",
        "not in",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(TOKENS, max_size=25).map(" ".join), st.text(max_size=80)))
def test_any_condition_text_loads_or_is_refused_cleanly(when: str) -> None:
    """Whatever is written, the loader either builds a rule set or raises RuleError."""
    text = yaml.safe_dump({"rules": [{"id": "fuzz", "when": when, "then": "spam"}]})
    try:
        rs = parse_rules(text, FIELDS, RESOLUTIONS)
    except RuleError as exc:
        assert exc.rule_id in ("fuzz", None) and exc.file == "rules.yaml"
        return
    record = {"country": "FR", "employees": 3, "notes": "x", "vip": True}
    assert rs.match_record(record) in (None, rs.rules[0])


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(
            alphabet=st.sampled_from(list("rules:- {}[]&*!|>'\"#\n\t idwhenthn,")), max_size=200
        ).map(str.encode),
    )
)
def test_any_file_bytes_load_or_are_refused_cleanly(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rules.yaml"
        p.write_bytes(data)
        try:
            rs = load_rules(p, FIELDS, RESOLUTIONS)
        except RuleError as exc:
            assert exc.file == str(p)
            return
        assert rs.match_record({}) in (None, *rs.rules)
