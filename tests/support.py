"""What many tests share: where the repository's folders are, and waiting for a condition.

Fixtures built on these live in `conftest.py`; plain values and helpers live here so that a test
module can import them by name.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
CRM_DIR = DATA_DIR / "crm"
NOTEBOOKS_DIR = ROOT / "notebooks"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    check: Callable[[], T], *, timeout: float = 30.0, every: float = 0.05, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy (returned), or fail after `timeout` s.

    Tests wait for a thing to happen, never for a fixed time: exceptions from `check` count as
    "not yet" and the last one is shown if time runs out.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}") from last
        time.sleep(every)
