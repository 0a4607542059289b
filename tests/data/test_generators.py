"""Generators are found by name through the `autoresolve.generators` entry-point group.

The CRM demo is registered by this distribution; a generator from another package is found the
same way, which these tests show with a package installed into a temporary folder on sys.path.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from autoresolve.model.datasets import load_domain_frame
from autoresolve.model.domain import DomainError, load_domain
from autoresolve.model.generators import (
    GROUP,
    Generator,
    crm,
    generator_names,
    load_generator,
    source_digest,
)

TINY_DOMAIN = """\
name: tiny
id: record_id
label: resolution
resolutions: [keep, drop]
fields:
  size: number
data: records.csv
generator: tiny
"""

TINY_MODULE = """\
import pandas as pd

from autoresolve.model.generators import Generator


def generate(n, seed):
    return pd.DataFrame(
        {
            "record_id": [f"T{seed}-{i}" for i in range(n)],
            "size": [float(i) for i in range(n)],
            "resolution": ["keep" if i % 2 else "drop" for i in range(n)],
        }
    )


GENERATOR = Generator(generate=generate, default_n=7, default_seed=3)
NOT_A_GENERATOR = generate
"""


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party distribution, 'acme-generators', registering two entry points."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_tiny.py").write_text(TINY_MODULE)
    info = site / "acme_generators-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-generators\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\ntiny = acme_tiny:GENERATOR\nbroken = acme_tiny:NOT_A_GENERATOR\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return tmp_path


def test_the_crm_demo_is_registered() -> None:
    assert "crm" in generator_names()
    gen = load_generator("crm")
    assert gen is crm.GENERATOR
    assert gen.new_kinds == ("webinar_smb", "consent_missing")
    df, kinds = gen.with_kinds(300, 4)
    assert len(df) == len(kinds) == 300 and set(kinds) <= set(crm.KIND_NAMES)
    assert df.equals(gen.records(300, 4))


def test_an_unknown_name_is_refused_with_a_suggestion() -> None:
    with pytest.raises(DomainError, match=r"no generator named 'crn'.*Did you mean 'crm'"):
        load_generator("crn")


def test_a_third_party_generator_is_used_by_name(acme: Path) -> None:
    assert {"crm", "tiny", "broken"} <= set(generator_names())
    folder = acme / "tiny"
    folder.mkdir()
    (folder / "domain.yaml").write_text(TINY_DOMAIN)
    domain = load_domain(folder)
    df = load_domain_frame(domain)
    assert (folder / "records.csv").is_file()
    assert df["record_id"].tolist() == [f"T3-{i}" for i in range(7)]
    assert df["size"].dtype == "float64"


def test_an_entry_point_that_is_not_a_generator_is_refused(acme: Path) -> None:
    with pytest.raises(DomainError, match=r"broken.*is a function, not an autoresolve"):
        load_generator("broken")


def test_the_digest_covers_every_module_of_the_generator_package(acme: Path) -> None:
    crm_digest = source_digest(crm.GENERATOR)
    assert crm_digest == source_digest(crm.GENERATOR)
    tiny = load_generator("tiny")
    assert isinstance(tiny, Generator) and source_digest(tiny) != crm_digest


def test_a_domain_naming_a_missing_generator_is_refused_with_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "domain.yaml").write_text(TINY_DOMAIN.replace("generator: tiny", "generator: crn"))
    with pytest.raises(DomainError, match=r"tiny/domain.yaml: key 'generator': no generator"):
        load_domain_frame(load_domain(folder))
