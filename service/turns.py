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

from service.store import DecisionStore, row_of

MAX_PER_TURN = 256  # records decided in one go: bounds how long one turn holds the loop


class _Item:
    __slots__ = ("error", "out", "record", "record_json")

    def __init__(self, record: dict[str, Any], record_json: str):
        self.record = record
        self.record_json = record_json
        self.out: dict[str, Any] | None = None
        self.error: BaseException | None = None


class TurnBatcher:
    """`await resolve(record, record_json)` → the decision (DecisionOut's JSON shape), logged."""

    def __init__(
        self,
        domain_name: str,
        policy: Callable[[], Any],
        store: Callable[[], DecisionStore],
        to_out: Callable[[Any], dict[str, Any]],
    ):
        self.domain_name = domain_name
        self._policy = policy
        self._store = store
        self._to_out = to_out
        self._pending: tuple[list[_Item], asyncio.Future] | None = None

    async def resolve(self, record: dict[str, Any], record_json: str) -> dict[str, Any]:
        pending = self._pending
        if pending is None or len(pending[0]) >= MAX_PER_TURN:
            loop = asyncio.get_running_loop()
            pending = self._pending = ([], loop.create_future())
            loop.call_soon(self._turn, pending)
        item = _Item(record, record_json)
        pending[0].append(item)
        await asyncio.shield(pending[1])  # one client going away must not cancel the others
        if item.error is not None:
            raise item.error.with_traceback(None)
        assert item.out is not None  # settle() sets one or the other
        return item.out

    def _turn(self, pending: tuple[list[_Item], asyncio.Future]) -> None:
        items, done = pending
        if self._pending is pending:
            self._pending = None
        try:
            policy = self._policy()
            store = self._store()
            decided = policy.decide_records([it.record for it in items])
            rows = []
            logged = []
            for item, decision in zip(items, decided, strict=True):
                if isinstance(decision, Exception):
                    item.error = decision
                    continue
                out = self._to_out(decision)
                rows.append(row_of(self.domain_name, out, item.record_json))
                logged.append((item, out))
        except Exception as exc:  # no policy yet, store not open, …: every request is told
            for item in items:
                item.error = exc
            done.set_result(None)
            return
        if not rows:
            done.set_result(None)
            return
        committed = done.get_loop().create_future()

        def settle(f: asyncio.Future) -> None:
            if f.cancelled() or f.exception() is not None:
                error = f.exception() if not f.cancelled() else RuntimeError("commit cancelled")
                for item, _ in logged:
                    item.error = error
            else:
                for item, out in logged:
                    item.out = out
            done.set_result(None)

        committed.add_done_callback(settle)
        store.log_rows_into(rows, committed)
