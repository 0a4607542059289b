"""docs/domains.md against the loader (model/domain.py): every key, type, default and period the
loader knows is documented, nothing else is, and the page's example loads."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from autoresolve.model import domain as loader
from tests.support import ROOT

PAGE = (ROOT / "docs" / "domains.md").read_text(encoding="utf-8")


def _table(heading: str) -> list[list[str]]:
    """The rows (cells as text) of the first table under `## heading`."""
    section = PAGE.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def _names(rows: list[list[str]]) -> list[str]:
    return [re.fullmatch(r"`([^`]+)`", r[0]).group(1) for r in rows]


def test_top_level_keys() -> None:
    rows = _table("Top-level keys")
    assert _names(rows) == list(loader.TOP_KEYS)
    required = [n for n, r in zip(_names(rows), rows, strict=True) if r[1] == "yes"]
    assert required == list(loader.REQUIRED_KEYS)


def test_field_types_and_keys() -> None:
    assert _names(_table("Field types")) == list(loader.FIELD_TYPES)
    rows = _table("Field keys")
    assert _names(rows) == list(loader.FIELD_KEYS)
    spec = loader.FieldSpec(name="x", type="category")
    for name, row in zip(_names(rows), rows, strict=True):
        if name != "type":
            default = getattr(spec, name)
            shown = "empty" if default == "" else f"`{str(default).lower()}`"
            assert row[-1] == shown, name


def test_policy_keys_and_defaults() -> None:
    rows = _table("Policy keys")
    assert _names(rows) == list(loader.POLICY_KEYS)
    defaults = dataclasses.asdict(loader.PolicySpec())
    for name, row in zip(_names(rows), rows, strict=True):
        value = defaults[name]
        shown = (
            str(value).lower()
            if isinstance(value, bool)
            else f"{value:g}"
            if isinstance(value, float)
            else str(value)
        )
        assert row[-1] == f"`{shown}`", name


def test_periods() -> None:
    section = PAGE.split("\n## Periods\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"`(\w+)`", section)[1:] == list(loader.PERIODS)


@pytest.mark.parametrize("block", re.findall(r"```yaml\n(.*?)```", PAGE, re.S))
def test_the_example_loads(block: str) -> None:
    dom = loader.parse_domain(yaml.safe_load(block))
    assert dom.fields and dom.lists_resolutions
