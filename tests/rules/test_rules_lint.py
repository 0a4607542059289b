"""Lint: dead, shadowed, overlapping rules and precision with a Wilson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoresolve.rules import lint, parse_rules
from autoresolve.rules.lint import wilson_interval

FIELDS = {"country": "category", "employees": "number", "vip": "boolean"}
RES = ["route_emea", "route_big", "spam"]
TEXT = """
rules:
  - {id: emea, when: 'country in ["FR", "DE"]', then: route_emea}
  - {id: fr-only, when: 'country == "FR"', then: spam}
  - {id: big, when: 'employees > 1000', then: route_big}
  - {id: mars, when: 'country == "MARS"', then: spam}
  - {id: again, when: 'country in ["FR","DE"]', then: spam}
  - {id: hold, when: vip, then: defer}
"""


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 2_000
    country = rng.choice(["FR", "DE", "US", None], n)
    employees = rng.integers(1, 3_000, n).astype(float)
    label = np.where(np.isin(country, ["FR", "DE"]), "route_emea", "spam").astype(object)
    big = (employees > 1000) & ~np.isin(country, ["FR", "DE"])
    # "big" is right only ~70% of the time: stale
    label[big] = np.where(rng.random(big.sum()) < 0.7, "route_big", "spam")
    label[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "country": country,
            "employees": employees,
            "resolution": label,
            "vip": rng.random(n) < 0.05,
        }
    )


def test_lint_finds_dead_shadowed_overlap_and_stale() -> None:
    rs = parse_rules(TEXT, FIELDS, RES)
    df = _frame()
    report = lint(rs, df, "resolution", precision_bar=0.95)
    by = {s.rule_id: s for s in report.rules}
    kinds = {(f.kind, f.rule_id) for f in report.findings}
    assert by["mars"].status == "dead" and ("dead", "mars") in kinds
    assert by["fr-only"].status == "shadowed" and ("shadowed", "fr-only") in kinds
    assert ("duplicate_condition", "again") in kinds
    assert ("overlap", "fr-only") in kinds  # emea vs fr-only, different resolutions
    assert by["emea"].status == "ok" and by["emea"].precision == 1.0
    assert by["big"].status == "below_bar" and ("below_bar", "big") in kinds
    assert 0.6 < by["big"].precision < 0.8
    assert by["big"].ci_low < by["big"].precision < by["big"].ci_high < 0.95
    assert by["hold"].status == "defer" and by["hold"].precision is None
    assert sum(s.fires for s in report.rules) == int((rs.match_frame(df) >= 0).sum())
    assert not report.ok
    d = report.to_dict()
    assert d["ok"] is False and d["rules"][0]["rule_id"] == "emea"


def test_lint_without_labels_reports_coverage_only() -> None:
    rs = parse_rules(TEXT, FIELDS, RES)
    report = lint(rs, _frame().drop(columns="resolution"), None)
    assert all(s.precision is None for s in report.rules)
    assert report.labelled_rows == 0
    assert {f.kind for f in report.findings} <= {
        "dead",
        "shadowed",
        "overlap",
        "duplicate_condition",
    }


def test_few_labels_are_uncertain_not_ok() -> None:
    rs = parse_rules("rules:\n  - {id: a, when: vip, then: spam}\n", FIELDS, RES)
    df = pd.DataFrame({"vip": [True] * 10, "resolution": ["spam"] * 10})
    (stats,) = lint(rs, df, "resolution").rules
    assert stats.precision == 1.0 and stats.status == "uncertain"


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_wilson_interval_matches_published_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n, 0.95)
    assert got == pytest.approx((lo, hi), abs=5e-4)


def test_wilson_interval_empty() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_constant_conditions_are_errors() -> None:
    rs = parse_rules(
        "rules:\n  - {id: all, when: 1 < 2, then: spam}\n"
        "  - {id: none, when: 'false', then: spam}\n",
        FIELDS,
        RES,
    )
    report = lint(rs, pd.DataFrame({"vip": [True, False]}), None)
    found = {(f.kind, f.rule_id, f.severity) for f in report.findings}
    assert ("constant_condition", "all", "error") in found
    assert ("constant_condition", "none", "error") in found
    assert not report.ok
