"""Fixtures shared by every layer's tests (values and helpers: tests/support.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.support import CRM_DIR


@pytest.fixture(scope="session")
def crm_domain():
    """The demo domain as loaded from data/crm."""
    from autoresolve.model.domain import load_domain

    return load_domain(CRM_DIR)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state folder of the test's own, development settings, no inherited store or MLflow URI."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AUTORESOLVE_HOME", str(home))
    monkeypatch.setenv("AUTORESOLVE_ENV", "development")
    for var in (
        "MLFLOW_TRACKING_URI",
        "AUTORESOLVE_DATABASE_URL",
        "AUTORESOLVE_MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    yield home
