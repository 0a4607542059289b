"""Domain files: the demo loads; mistakes are refused with the file, the key and a suggestion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from autoresolve.model.domain import DomainError, load_domain, parse_domain
from tests.support import CRM_DIR

CRM = CRM_DIR


def _crm_raw() -> dict:
    return yaml.safe_load((CRM / "domain.yaml").read_text())


def test_crm_domain_loads() -> None:
    d = load_domain(CRM)
    assert d.name == "crm" and d.id == "record_id" and d.label == "resolution"
    assert len(d.resolutions) >= 8
    assert len(d.fields) >= 12
    assert d.field_types["created_at"] == "datetime"
    assert d.rules_path == CRM / "rules.yaml"
    assert 0 < d.policy.target_precision < 1


@pytest.mark.parametrize(
    ("mutate", "key", "hint"),
    [
        (lambda r: r.update(labl="x"), "labl", "Did you mean 'label'"),
        (lambda r: r["fields"].update(country="categorical"), "fields.country", "'category'"),
        (
            lambda r: r["fields"].update(country={"type": "category", "descr": "x"}),
            "fields.country.descr",
            "description",
        ),
        (
            lambda r: r["policy"].update(target_precison=0.9),
            "policy.target_precison",
            "target_precision",
        ),
        (lambda r: r["policy"].update(target_precision=1.5), "policy.target_precision", "outside"),
        (lambda r: r.pop("label"), "label", "required"),
        (lambda r: r.update(resolutions=["a", "a"]), "resolutions", "duplicate"),
        (lambda r: r.update(resolutions=["defer"]), "resolutions", "reserved"),
        (lambda r: r["fields"].update(record_id="category"), "fields.record_id", "id column"),
    ],
)
def test_bad_domains_are_refused(mutate, key: str, hint: str, tmp_path: Path) -> None:
    raw = _crm_raw()
    mutate(raw)
    path = tmp_path / "domain.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DomainError) as info:
        load_domain(tmp_path)
    msg = str(info.value)
    assert str(path) in msg and f"'{key}'" in msg and hint in msg


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    (tmp_path / "domain.yaml").write_text("name: crm\nfields: [a,\n")
    with pytest.raises(DomainError, match=r"line \d+"):
        load_domain(tmp_path)


def test_missing_folder_is_clear(tmp_path: Path) -> None:
    with pytest.raises(DomainError, match="no domain file"):
        load_domain(tmp_path / "nope")


def test_table_without_id_or_label_is_refused() -> None:
    d = parse_domain(_crm_raw())
    df = pd.DataFrame({"recordid": ["a"], "resolution": ["merge_duplicate"], "country": ["DE"]})
    with pytest.raises(DomainError, match=r"'record_id'.*Did you mean 'recordid'"):
        d.check_table(df)
    df = pd.DataFrame({"record_id": ["a"], "country": ["DE"]})
    with pytest.raises(DomainError, match="'resolution'"):
        d.check_table(df)
    d.check_table(df, require_label=False)


def test_unknown_resolution_suggests() -> None:
    d = parse_domain(_crm_raw())
    with pytest.raises(DomainError, match="Did you mean 'merge_duplicate'"):
        d.check_resolution("merge_duplicates")
