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
from autoresolve.model.batch import decide_chunk, parse_now  # noqa: E402
from autoresolve.model.domain import load_domain  # noqa: E402
from autoresolve.model.generators.crm import generate  # noqa: E402
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


def _strict(text: str) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are errors."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"invalid JSON constant {token} in the response")

    return json.loads(text, parse_constant=refuse)


def _invoke(url: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return _strict(r.read().decode())["predictions"]


def test_served_model_gives_the_in_process_decisions(served: dict[str, Any]) -> None:
    rows = _json_records(served["records"])
    got = _invoke(served["url"], {"dataframe_records": rows, "params": {"now": NOW}})
    want = registry.decision_records(
        decide_chunk(served["policy"], pd.DataFrame(rows), now=parse_now(NOW))
    )
    assert got == want
    assert any(d["source"] == "model" for d in got), "the sample should exercise the model"
    assert all(isinstance(d["candidates"], list) for d in got)
    assert {type(d["confidence"]) for d in got} <= {float, type(None)}


def test_one_record_takes_the_single_record_path(served: dict[str, Any]) -> None:
    row = _json_records(served["records"].tail(1))[0]
    got = _invoke(served["url"], {"dataframe_records": [row], "params": {"now": NOW}})
    want = served["policy"].decide_record(
        {k: v for k, v in row.items() if v is not None}, now=parse_now(NOW)
    )
    assert got == [{**want.to_dict(), "error": None}]


def test_served_model_refuses_a_wrong_type_and_defers_a_record_without_id(
    served: dict[str, Any],
) -> None:
    rows = _json_records(served["records"].head(3))
    rows[1]["employees"] = "lots"  # the signature says double: MLflow answers 400, naming it
    with pytest.raises(urllib.error.HTTPError) as info:
        _invoke(served["url"], {"dataframe_records": rows})
    assert info.value.code == 400 and "employees" in info.value.read().decode()
    rows[1]["employees"] = None
    rows[1][DOMAIN.id] = None
    got = _invoke(served["url"], {"dataframe_records": rows})
    assert len(got) == 3
    assert got[1]["defer_reason"] == "invalid" and DOMAIN.id in got[1]["error"]
    assert got[0]["error"] is None and got[2]["error"] is None
