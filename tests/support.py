"""What many tests share: where the repository's folders are, and waiting for a condition.

Fixtures built on these live in `conftest.py`; plain values and helpers live here so that a test
module can import them by name.
"""

from __future__ import annotations

import socket
import threading
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


def run_threads(work: Callable[[int], None], n: int) -> list[BaseException]:
    """Run `work(0)` … `work(n - 1)` in n threads at once; the exceptions they raised."""
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            work(w)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


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


LEARNABLE_FIELDS = {
    "team": "category",
    "size": "number",
    "vip": "boolean",
    "channel": "category",
    "note": "text",
    "created_at": "datetime",
}
LEARNABLE_RESOLUTIONS = ("escalate", "route_a", "route_b", "close")


def learnable_records(n: int = 10_000, seed: int = 7):
    """Labelled records, in time order over 2025, where one rule is true and one is a trap.

    True: `team == "T07" and size > 200` → escalate (1% label noise). Trap: `channel == "phone"
    and vip` → route_b on the older 70% of the records, close on the newest 30% (a path that
    stopped holding). Everything else is a weak coin flip that no rule should claim.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    teams = np.array([f"T{i:02d}" for i in range(40)], dtype=object)
    share = np.full(40, 0.85 / 39)
    share[7] = 0.15
    team = rng.choice(teams, n, p=share).astype(object)
    team[rng.random(n) < 0.05] = None
    size = np.round(np.exp(rng.normal(5.5, 1.2, n))).clip(1, 20_000)
    size[rng.random(n) < 0.08] = np.nan
    vip = (rng.random(n) < 0.2).astype(object)
    vip[rng.random(n) < 0.05] = None
    channel = rng.choice(np.array(["web", "mail", "phone"], dtype=object), n)
    note = rng.choice(np.array(["call back", "urgent", "fyi", None], dtype=object), n)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 364, n)), unit="D"
    )
    label = rng.choice(np.array(["route_a", "route_b", "close"], dtype=object), n)
    newer = np.arange(n) >= int(0.7 * n)
    trap = (channel == "phone") & (vip == True)  # noqa: E712 (object array of bool/None)
    label[trap & ~newer] = "route_b"
    label[trap & newer] = "close"
    true_rule = (team == "T07") & (np.nan_to_num(size) > 200)
    label[true_rule] = np.where(rng.random(true_rule.sum()) < 0.99, "escalate", "route_a")
    return pd.DataFrame(
        {
            "record_id": [f"r{i:05d}" for i in range(n)],
            "created_at": created,
            "team": team,
            "size": size,
            "vip": vip,
            "channel": channel,
            "note": note,
            "resolution": label,
        }
    )


def ticket_export(n: int = 4000, seed: int = 5):
    """An export of tickets whose queue depends on their team and size, with every kind of leak
    an export can hold (each column's comment says which)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    team = rng.choice([f"T{i}" for i in range(12)], n)
    size = rng.integers(1, 5000, n).astype(float)
    queue = np.where(np.isin(team, ["T1", "T2"]), "billing", "support")
    queue = np.where(size > 4000, "sales", queue)
    flip = rng.random(n) < 0.2
    queue = np.where(flip, rng.choice(["billing", "support", "sales", "spam"], n), queue)
    opened = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 300, n)), "D"
    )
    closed = opened + pd.to_timedelta(rng.uniform(0.1, 20, n), "D")
    label = pd.Series(queue, dtype=object)
    label[rng.random(n) < 0.01] = None
    handler = label.map({"billing": "Ann", "support": "Bob", "sales": "Cid", "spam": "Dee"})
    refund = np.where(label.eq("billing") & (rng.random(n) < 0.5), rng.integers(5, 90, n), "")
    return (
        pd.DataFrame(
            {
                "Ticket ID": [f"TK-{i:06d}" for i in range(n)],
                "opened": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "team": team,
                "size": size,
                "priority_code": rng.choice(["101", "205", "309", "412"], n),
                "vip": rng.choice(["yes", "no"], n),
                "summary": [f"customer writes about order {i} and asks for help" for i in range(n)],
                "agent_note": [  # free text that names the resolution
                    f"ticket {i}: moved to {q} after review" if q else ""
                    for i, q in enumerate(label.fillna(""))
                ],
                "closed": closed.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "handled_by": handler,  # filled in with the resolution
                "refund": refund,  # only ever filled in for billing
                "final_queue": label,  # named like the end of the ticket's life
                "channel": "web",  # one value
                "queue": label,
            }
        )
        .astype(object)
        .where(lambda d: d.notna(), None)
    )
