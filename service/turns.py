"""Decide and log the records of one event-loop turn together.

Under load a server reads several requests per turn of its event loop. Deciding them one by one,
each LightGBM row ran with the trees evicted from the CPU cache by everything a request does in
between (~3× the isolated cost); back to back (`Policy.decide_records`) only the first pays that.
Their decision rows then go to the decision log as one commit. Every request still gets its own
decision, and its answer still waits for the commit that holds its row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from autoresolve.service.decision_codec import decision_json, log_row
from autoresolve.service.store import DecisionStore
from autoresolve.service.store.writes import CommitTimeout

MAX_PER_TURN = 256  # records decided in one go: bounds how long one turn holds the loop


class _Item:
    __slots__ = ("future", "out", "record")

    def __init__(self, record: dict[str, Any], future: asyncio.Future):
        self.record = record
        self.future = future  # its own, so one client going away cancels only its own wait
        self.out: dict[str, Any] | None = None


class TurnBatcher:
    """`await resolve(record)` → the decision (DecisionOut's JSON shape), logged.

    `record` is plain JSON (a validated request body); `policy` and `store` are called once per
    turn and may raise (no policy loaded yet, store not open): every request of the turn is told.
    """

    def __init__(
        self, domain_name: str, policy: Callable[[], Any], store: Callable[[], DecisionStore]
    ):
        self.domain_name = domain_name
        self._policy = policy
        self._store = store
        self._pending: list[_Item] | None = None

    async def resolve(self, record: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        pending = self._pending
        if pending is None or len(pending) >= MAX_PER_TURN:
            pending = self._pending = []
            loop.call_soon(self._turn, pending)
        item = _Item(record, loop.create_future())
        pending.append(item)
        await item.future  # set once the row is committed, or to the reason it is not
        assert item.out is not None
        return item.out

    def _turn(self, items: list[_Item]) -> None:
        if self._pending is items:
            self._pending = None
        try:
            store = self._store()
            logged, rows = self._decide(items)
            if rows:
                committed = _committed(logged)
                store.log_rows_into(rows, committed)
                _deadline(committed, store.commit_timeout_s)
        except Exception as exc:  # no policy yet, store not open, …: every request is told
            for item in items:
                _settle(item, exc)

    def _decide(self, items: list[_Item]) -> tuple[list[_Item], list[dict[str, Any]]]:
        """Decide the turn's records; a record the policy refuses is answered with its error."""
        decided = self._policy().decide_records([it.record for it in items])
        logged, rows = [], []
        for item, decision in zip(items, decided, strict=True):
            if isinstance(decision, Exception):
                _settle(item, decision)
                continue
            item.out = decision_json(decision)
            rows.append(log_row(self.domain_name, item.out, item.record))
            logged.append(item)
        return logged, rows


def _committed(items: list[_Item]) -> asyncio.Future:
    """A future of the running loop that, once settled by the store, answers `items`."""
    committed = asyncio.get_running_loop().create_future()

    def settle(f: asyncio.Future) -> None:
        error = RuntimeError("commit cancelled") if f.cancelled() else f.exception()
        for item in items:
            _settle(item, error)

    committed.add_done_callback(settle)
    return committed


def _deadline(committed: asyncio.Future, timeout_s: float | None) -> None:
    """Answer the turn's requests with CommitTimeout (503) if the store has not confirmed their
    commit within `timeout_s`: one timer per turn, not per request."""
    if not timeout_s or committed.done():
        return

    def expire() -> None:
        if not committed.done():
            committed.set_exception(CommitTimeout(timeout_s))

    handle = committed.get_loop().call_later(timeout_s, expire)
    committed.add_done_callback(lambda _: handle.cancel())


def _settle(item: _Item, error: BaseException | None) -> None:
    if item.future.done():  # its client went away
        return
    if error is None:
        item.future.set_result(None)
    else:
        item.future.set_exception(error.with_traceback(None))
