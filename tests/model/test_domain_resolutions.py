"""A domain file may leave `resolutions` out: training takes them from the labels, most frequent
first, and the policy carries the domain it was trained with."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autoresolve.model.domain import DomainError, load_domain, parse_domain
from autoresolve.model.train import TrainError, train_policy
from autoresolve.rules import RuleError
from tests.support import LEARNABLE_FIELDS, learnable_records


def _domain(folder: Path, rules: str | None = None, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = {
        "name": "tickets",
        "id": "record_id",
        "label": "resolution",
        "time": "created_at",
        "fields": {k: v for k, v in LEARNABLE_FIELDS.items() if k != "created_at"},
        **extra,
    }
    (folder / "domain.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    if rules is not None:
        (folder / "rules.yaml").write_text(rules)
    return folder


def test_a_domain_without_resolutions_loads(tmp_path: Path) -> None:
    dom = load_domain(_domain(tmp_path / "d"))
    assert dom.resolutions == () and not dom.lists_resolutions


def test_training_takes_them_from_the_labels_and_the_policy_carries_them(tmp_path: Path) -> None:
    rules = (
        'rules:\n  - id: big-t07\n    when: team == "T07" and size > 200\n'
        "    then: escalate\n    examples:\n"
        "      - {record: {team: T07, size: 500}, expect: escalate}\n"
    )
    dom = load_domain(_domain(tmp_path / "d", rules))
    df = learnable_records(3000, seed=3)
    policy, _ = train_policy(dom, df, seed=0)
    counts = df["resolution"].value_counts()
    assert policy.domain.resolutions == tuple(counts.index)  # most frequent first
    assert policy.domain.lists_resolutions and policy.rules.rules[0].then == "escalate"


def test_a_rule_naming_no_label_is_refused(tmp_path: Path) -> None:
    rules = 'rules:\n  - id: r\n    when: team == "T07"\n    then: escalte\n'
    dom = load_domain(_domain(tmp_path / "d", rules))
    with pytest.raises(RuleError, match="Did you mean 'escalate'"):
        train_policy(dom, learnable_records(3000, seed=3), seed=0)


def test_a_label_the_list_lacks_says_what_to_do(tmp_path: Path) -> None:
    dom = load_domain(_domain(tmp_path / "d", resolutions=["route_a", "route_b", "close"]))
    with pytest.raises(TrainError) as info:
        train_policy(dom, learnable_records(3000, seed=3), seed=0)
    msg = str(info.value)
    assert "'escalate'" in msg and "Add them to `resolutions`" in msg
    assert "leave `resolutions` out" in msg


def test_a_label_named_defer_is_refused_with_the_fix() -> None:
    import pandas as pd

    dom = parse_domain({"name": "t", "id": "i", "label": "y", "fields": {"a": "category"}})
    with pytest.raises(DomainError, match="reserved"):
        dom.with_label_resolutions(pd.Series(["ok", "defer"]))
