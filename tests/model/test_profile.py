"""Profiling an export: the id, the creation time, the types, and each kind of leak left out
with its reason (model/profile.py), on a synthetic export where the truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from autoresolve.model.domain import parse_domain
from autoresolve.model.profile import ProfileError, profile_export
from autoresolve.model.scaffold import domain_yaml, rules_yaml
from tests.support import ticket_export as export


@pytest.fixture(scope="module")
def profiled():
    return profile_export(export(), "queue")


def test_id_time_and_types(profiled) -> None:
    p = profiled
    assert p.id == "Ticket ID" and "named like an id" in p.id_why
    assert p.time == "opened"
    kinds = {c.name: c.type for c in p.fields}
    assert kinds == {
        "team": "category",
        "size": "number",
        "priority_code": "category",
        "vip": "boolean",
        "summary": "text",
    }
    counts = export()["queue"].value_counts()
    assert [r for r, _ in p.resolutions] == list(counts.index)
    assert p.unlabelled > 0


@pytest.mark.parametrize(
    "column,why",
    [
        ("closed", "on or after the creation time"),
        ("handled_by", "empty in all"),
        ("refund", "resolved 'billing'"),
        ("final_queue", "('final')"),
        ("agent_note", "names the record's own resolution"),
        ("channel", "one value"),
    ],
)
def test_every_kind_of_leak_is_left_out_with_its_reason(profiled, column: str, why: str) -> None:
    left = {c.name: c for c in profiled.left_out}
    assert column in left and why in left[column].why, left.get(column)


def test_a_near_perfect_predictor_is_a_leak() -> None:
    df = export()
    df["stage"] = df["queue"].map(lambda q: None if q is None else f"{q}-done")
    left = {c.name: c.why for c in profile_export(df, "queue").left_out}
    assert "alone it predicts the label" in left["stage"]


def test_the_files_load_and_say_why(profiled) -> None:
    text = domain_yaml(profiled, name="tickets", source="/x/export.csv", data="../export.csv")
    dom = parse_domain(yaml.safe_load(text))
    assert dom.id == "Ticket ID" and dom.time == "opened" and dom.resolutions[0] == "support"
    assert set(dom.field_types) == {"opened", "team", "size", "priority_code", "vip", "summary"}
    assert "#   closed:" in text and "#   refund:" in text
    rules = yaml.safe_load(rules_yaml(profiled))
    assert rules == {"rules": None}  # no rule until a person uncomments one


def test_refusals_say_what_to_do() -> None:
    df = export()
    with pytest.raises(ProfileError, match="Did you mean 'queue'"):
        profile_export(df, "queu")
    with pytest.raises(ProfileError, match="--id"):
        profile_export(df.assign(**{"Ticket ID": "same"}), "queue", id="Ticket ID")
    with pytest.raises(ProfileError, match="right column"):
        profile_export(df.assign(size=np.arange(len(df)).astype(str)), "size")
