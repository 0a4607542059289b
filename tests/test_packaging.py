"""The wheel as a user installs it: a namespaced package that keeps its state where it is run.

The wheel is built from this checkout and installed (not editable) into a fresh virtual
environment. Its dependencies come from the development environment through a path entry (a
`.pth` line, which does not run that environment's editable-install hook), so the test needs no
network and sees only the wheel's own copy of autoresolve. From a temporary working directory it
copies the demo domain out of the package, trains on a small history and decides a file, then
checks that the state went to `./var`, nothing new landed in site-packages, and no top-level
`rules`, `model` or `service` package was installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: setuptools writes build/ and egg-info beside the sources
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "rules", "model", "service", "data"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(
                src, source / part, ignore=shutil.ignore_patterns("__pycache__", "records.csv*")
            )
        else:
            shutil.copy2(src, source / part)
    dist = tmp / "dist"
    _run(
        [
            sys.executable,
            *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("-w", str(dist), str(source)),
        ],
        cwd=tmp,
        env=dict(os.environ),
    )
    (wheel,) = dist.glob("autoresolve-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=dict(os.environ))
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        cwd=tmp,
        env=dict(os.environ),
    )
    return {"venv": venv, "python": py, "site": site, "tmp": tmp}


def test_no_top_level_rules_model_or_service(installed: dict[str, Path]) -> None:
    site = installed["site"]
    for bare in ("rules", "model", "service"):
        assert not (site / bare).exists(), f"the wheel installed a top-level '{bare}' package"
    assert (site / "autoresolve" / "model" / "policy.py").is_file()
    assert (site / "autoresolve" / "domains" / "crm" / "domain.yaml").is_file()
    top = (next(site.glob("autoresolve-*.dist-info")) / "top_level.txt").read_text().split()
    assert top == ["autoresolve"]
    out = subprocess.run(
        [installed["python"], "-c", "import model"],
        cwd=installed["tmp"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0 and "No module named 'model'" in out.stderr
    where = subprocess.check_output(
        [installed["python"], "-c", "import autoresolve.model.policy as p; print(p.__file__)"],
        cwd=installed["tmp"],
        text=True,
    )
    assert Path(where.strip()).is_relative_to(site), "the wheel's own copy must be imported"


def test_train_and_resolve_from_a_working_directory(installed: dict[str, Path]) -> None:
    from autoresolve.model.generators.crm import generate

    work = installed["tmp"] / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTORESOLVE_", "MLFLOW_", "PYTHONPATH"))
    }
    env["OMP_NUM_THREADS"] = "1"
    generate(3_000, seed=3).to_csv(work / "history.csv", index=False)
    before = _files(installed["site"])
    cli = str(installed["venv"] / "bin" / "autoresolve")

    _run([cli, "init", "crm", "--demo"], cwd=work, env=env)
    _run([cli, "train", "--domain", "crm", "--data", "history.csv", "--json"], cwd=work, env=env)
    _run(
        [cli, "resolve", "--domain", "crm", "--input", "history.csv", "--output", "out.csv"],
        cwd=work,
        env=env,
    )

    decided = pd.read_csv(work / "out.csv")
    assert len(decided) == 3_000 and set(decided["outcome"]) <= {"resolved", "deferred"}
    assert (work / "var" / "mlflow.db").is_file(), "state belongs in ./var of the working dir"
    assert _files(installed["site"]) == before, "something was written into site-packages"
