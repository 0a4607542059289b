"""A console worth looking at: a registered CRM policy, `autoresolve serve` on a free loopback
port, some traffic in its queue, and headless Chromium (Debian's `chromium` + `chromium-driver`)
driven by Selenium. Shared by the browser test and `scripts/screenshots.py`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support import CRM_DIR, free_port, wait_until

KEY = "console-demo-key-0123456789"
H = {"X-API-Key": KEY}


class BrowserUnavailable(RuntimeError):
    """No Chromium, chromedriver or Selenium here; the message says what to install."""


def register_policy(home: Path, seed: int = 1, n: int = 2000) -> str:
    """Train a small CRM policy and register it as @champion in `home`'s MLflow store."""
    from autoresolve.model import registry
    from autoresolve.model.domain import load_domain
    from autoresolve.model.drift import summarize
    from autoresolve.model.generators import crm
    from autoresolve.model.train import train_policy

    registry.configure(f"sqlite:///{home / 'mlflow.db'}", home / "mlartifacts")
    domain, df = load_domain(CRM_DIR), crm.generate(n, seed=seed)
    policy, report = train_policy(domain, df, seed=seed, families=("lightgbm",))
    summary = summarize(domain.field_types, df)  # what the report's drift compares against
    return str(
        registry.log_policy(policy, report, run_name=f"console-{seed}", data_summary=summary)
    )


@contextmanager
def serve(home: Path) -> Iterator[httpx.Client]:
    """`autoresolve serve` (one worker) on a free port; a client with its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "AUTORESOLVE_ENV": "test",
        "AUTORESOLVE_HOME": str(home),
        "AUTORESOLVE_API_KEYS": KEY,
        "OMP_NUM_THREADS": "1",
    }
    for k in ("MLFLOW_TRACKING_URI", "AUTORESOLVE_DATABASE_URL"):
        env.pop(k, None)
    cli = "from autoresolve.service.cli import app; app()"
    cmd = [sys.executable, "-c", cli, "serve", "--domain", str(CRM_DIR)]
    log = home / f"serve-{port}.log"
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--workers", "1", "--log-level", "warning"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=H)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
            return client.get("/readyz").status_code == 200

        wait_until(ready, timeout=120, every=0.2, what="the server to be ready")
        yield client
    finally:
        client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)


def send_traffic(client: httpx.Client, n: int = 80, seed: int = 7) -> None:
    """`n` fresh CRM records through the batch endpoint: decisions logged, deferrals queued."""
    from autoresolve.model.generators import crm
    from autoresolve.service.decision_codec import jsonable

    df = crm.generate(n, seed=seed).drop(columns=["resolution"])
    records = [jsonable(r) for r in df.to_dict("records")]
    r = client.post("/v1/resolve/batch", json={"records": records})
    r.raise_for_status()


@contextmanager
def chromium(width: int = 1366, height: int = 900) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver (never a downloaded browser)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        raise BrowserUnavailable(
            "Debian's chromium and chromium-driver are not installed "
            "(`make browser`, or `apt-get install chromium chromium-driver`)."
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}): `make setup`.") from exc
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def log_in(browser: Any, base_url: str, key: str = KEY) -> None:
    """Open the queue (redirected to the login form), type the key, submit."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/console/queue")
    if urlsplit(browser.current_url).path == "/console/queue":  # an earlier login's session
        return
    wait_until(lambda: browser.find_elements(By.ID, "api_key"), what="the login form")
    field = browser.find_element(By.ID, "api_key")
    field.send_keys(key)
    field.submit()
    wait_until(
        lambda: urlsplit(browser.current_url).path == "/console/queue",
        what="the queue after login",
    )
