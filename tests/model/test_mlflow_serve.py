"""`mlflow models serve -m models:/crm@champion` decides exactly like the in-process policy."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

os.environ.setdefault("OMP_NUM_THREADS", "1")

from autoresolve.model import registry  # noqa: E402
from autoresolve.model.batch import decision_table  # noqa: E402
from autoresolve.model.crm_demo import generate  # noqa: E402
from autoresolve.model.domain import load_domain  # noqa: E402
from autoresolve.model.train import train_policy  # noqa: E402
from tests.support import CRM_DIR, wait_until  # noqa: E402

# A target small data can certify (0.90 at confidence 0.80): the model must resolve some records.
_CRM = load_domain(CRM_DIR)
DOMAIN = dataclasses.replace(
    _CRM, policy=dataclasses.replace(_CRM.policy, target_precision=0.9, confidence=0.8)
)
NOW = "2026-03-01T12:00:00.000Z"
STARTUP_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).map(lambda v: None if pd.isna(v) else v).reset_index(drop=True)


def _wait(url: str, proc: subprocess.Popen, log: Path) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {log.read_text()[-3000:]}")
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200

    try:
        wait_until(up, timeout=STARTUP_S, every=0.3, what="mlflow models serve to answer /ping")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {log.read_text()[-3000:]}") from exc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("serve")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    registry.configure(uri, home / "artifacts")
    df = generate(15_000, seed=1)
    policy, report = train_policy(DOMAIN, df, seed=0)
    version = registry.log_policy(policy, report, run_name="serve-test")
    assert registry.champion_version("crm") == version
    port = _free_port()
    log = home / "serve.log"
    bindir = Path(sys.executable).parent  # mlflow execs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    mlflow_cli = bindir / "mlflow"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(mlflow_cli), "models", "serve", "-m", "models:/crm@champion",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{port}/ping", proc, log)
            yield {
                "url": f"http://127.0.0.1:{port}/invocations",
                "policy": registry.load_policy("crm", version),
                "records": df.tail(300).drop(columns=[DOMAIN.label]).reset_index(drop=True),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _json_records(records: pd.DataFrame) -> list[dict[str, Any]]:
    """What a workflow tool would send: ISO timestamps, null for missing."""
    out = records.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat())
    return json.loads(out.to_json(orient="records", date_format="iso"))


def _invoke(url: str, payload: dict[str, Any]) -> pd.DataFrame:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return pd.DataFrame(json.loads(r.read())["predictions"])


def test_served_model_gives_the_in_process_decisions(served: dict[str, Any]) -> None:
    rows = _json_records(served["records"])
    got = _invoke(served["url"], {"dataframe_records": rows, "params": {"now": NOW}})
    want = decision_table(served["policy"].decide_frame(pd.DataFrame(rows)))
    assert len(got) == len(rows)
    cols = [c for c in want.columns if c != "decided_at"]
    pd.testing.assert_frame_equal(_plain(got[cols]), _plain(want[cols]))
    assert (got["decided_at"] == NOW).all()
    assert (want["source"] == "model").any(), "the sample should exercise the model"
    assert (got["policy_version"] == served["policy"].version).all()


def test_served_model_defers_a_bad_record_instead_of_failing(served: dict[str, Any]) -> None:
    rows = _json_records(served["records"].head(3))
    rows[1]["employees"] = "lots"
    got = _invoke(served["url"], {"dataframe_records": rows})
    assert len(got) == 3
    assert got.loc[1, "defer_reason"] == "invalid" and "employees" in got.loc[1, "error"]
    assert got.loc[[0, 2], "error"].isna().all()
