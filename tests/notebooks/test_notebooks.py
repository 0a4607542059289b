"""The notebooks run top to bottom on small data, and are committed without outputs.

Each notebook is executed with nbclient in a kernel running this interpreter (the venv's
ipykernel), from the repository root, with AUTORESOLVE_NOTEBOOK_ROWS kept small. A notebook that
fails shows the cell and the error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from tests.support import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "01_explore_domain",
    "02_rules_coverage",
    "03_calibration_and_certification",
    "04_deferred_queue",
    "05_autonomy_curve",
    "06_tuning_for_certified_coverage",
}


def test_the_notebooks_exist() -> None:
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


def _kernel_manager():
    """A kernel for this very interpreter, whatever kernelspecs the machine has installed."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return km


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipykernel", reason="ipykernel (dev extra) runs the notebooks")
    from nbclient import NotebookClient

    monkeypatch.setenv(
        "AUTORESOLVE_NOTEBOOK_ROWS", os.environ.get("AUTORESOLVE_NOTEBOOK_ROWS", "3000")
    )
    monkeypatch.setenv("AUTORESOLVE_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=240,
        startup_timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.km = _kernel_manager()
    client.execute()
    errors = [
        out
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
