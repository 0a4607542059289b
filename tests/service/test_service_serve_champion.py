"""`serve --train-if-missing`: a first policy when there is none, a replacement when this code
cannot load the champion (a tampered artifact here), and nothing when the champion is fine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model import registry
from autoresolve.model.domain import load_domain
from autoresolve.model.generators.crm import generate
from autoresolve.service.cli_serve import ensure_champion
from autoresolve.service.settings import load_settings
from tests.support import CRM_DIR


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AUTORESOLVE_MLFLOW_TRACKING_URI", raising=False)
    dom_dir = tmp_path / "crm"
    dom_dir.mkdir()
    raw = yaml.safe_load((CRM_DIR / "domain.yaml").read_text())
    raw.pop("generator")
    raw["data"] = "history.csv"
    raw["policy"].update(target_precision=0.9, confidence=0.8)
    (dom_dir / "domain.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (dom_dir / "rules.yaml").write_text((CRM_DIR / "rules.yaml").read_text())
    generate(4_000, seed=3).to_csv(dom_dir / "history.csv", index=False)
    settings = load_settings(env="development", home=tmp_path / "home", domain=dom_dir)
    return settings, load_domain(dom_dir)


def _artifact_of(settings, version: str) -> Path:
    sha = registry.version_info("crm", version).tags["policy_sha256"]
    for path in settings.artifact_root.rglob(registry.POLICY_FILE):
        if hashlib.sha256(path.read_bytes()).hexdigest() == sha:
            return path
    raise AssertionError(f"no artifact for version {version}")


def test_first_then_replacement_then_nothing(setup, capsys: pytest.CaptureFixture[str]) -> None:
    settings, dom = setup
    ensure_champion(settings, dom)
    said = capsys.readouterr()
    assert "loaded 4,000 records" in said.err and "training: registered" in said.err
    assert said.out == ""  # progress on stderr only
    first = registry.champion_version("crm")
    assert first == "1"
    registry.load_policy("crm", "champion")

    path = _artifact_of(settings, first)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(registry.RegistryError):
        registry.load_policy("crm", "champion")

    ensure_champion(settings, dom)
    second = registry.champion_version("crm")
    assert second == "2"
    assert "unloadable" in registry.version_info("crm", second).tags["autoresolve.promoted"]
    registry.load_policy("crm", "champion")

    ensure_champion(settings, dom)
    assert registry.champion_version("crm") == "2"
    assert len(registry.list_versions("crm")) == 2
