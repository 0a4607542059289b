"""One loop turn's records: decided in one call, logged in one commit, answered one by one."""

from __future__ import annotations

import asyncio

import pytest

from autoresolve.model.decision import Decision
from autoresolve.model.records import RecordError
from autoresolve.service.store import DecisionStore, StoreUnavailable
from autoresolve.service.turns import TurnBatcher


class CountingPolicy:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def decide_records(self, records, now=None):
        self.calls.append(len(records))
        out = []
        for r in records:
            if r.get("bad"):
                out.append(RecordError("field 'bad': refused", field="bad"))
                continue
            out.append(
                Decision(r["record_id"], "deferred", None, None, None, 0.5, 0.8, "novel", (), "1")
            )
        return out


@pytest.fixture
def store(tmp_path):
    s = DecisionStore.from_url(f"sqlite:///{tmp_path / 't.db'}", group_commit=True)
    s.migrate()
    yield s
    s.close()


async def until(check, timeout: float = 5.0) -> None:
    """Poll `check` between loop iterations (the event loop's `wait_until`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out waiting for the condition"
        await asyncio.sleep(0)


def batcher(policy, store) -> TurnBatcher:
    return TurnBatcher("crm", lambda: policy, lambda: store)


def test_one_turn_is_one_decide_call_and_one_commit(store):
    policy = CountingPolicy()
    turns = batcher(policy, store)
    seen: list[int] = []

    async def one(i: int):
        rec = {"record_id": f"t{i}", "bad": i == 3}
        try:
            out = await turns.resolve(rec)
        except RecordError as exc:
            return exc
        seen.append(store.count_decisions("crm"))  # answered only once its row is committed
        return out["record_id"]

    async def main():
        return await asyncio.gather(*(one(i) for i in range(10)))

    results = asyncio.run(main())
    assert policy.calls == [10]
    assert store.commits == 1
    assert isinstance(results[3], RecordError)
    assert [r for i, r in enumerate(results) if i != 3] == [f"t{i}" for i in range(10) if i != 3]
    assert store.count_decisions("crm") == 9
    assert seen == [9] * 9  # every answer came after the one commit holding all nine rows


def test_a_client_going_away_leaves_the_others_answered(store):
    turns = batcher(CountingPolicy(), store)

    async def main():
        tasks = [asyncio.ensure_future(turns.resolve({"record_id": f"c{i}"})) for i in range(4)]
        await until(lambda: turns._pending is not None and len(turns._pending) == 4)
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[1], asyncio.CancelledError)
    assert [r["record_id"] for i, r in enumerate(results) if i != 1] == ["c0", "c2", "c3"]


def test_a_failed_commit_fails_each_request_of_the_turn(store):
    with store.engine.begin() as c:
        c.exec_driver_sql("DROP TABLE decisions")
    turns = batcher(CountingPolicy(), store)

    async def main():
        return await asyncio.gather(
            *(turns.resolve({"record_id": f"f{i}"}) for i in range(3)),
            return_exceptions=True,
        )

    assert all(isinstance(r, StoreUnavailable) for r in asyncio.run(main()))


def test_no_policy_yet_tells_every_request(store):
    class NotReadyError(Exception):
        pass

    def no_policy():
        raise NotReadyError("no policy loaded yet")

    turns = TurnBatcher("crm", no_policy, lambda: store)

    async def main():
        return await asyncio.gather(
            *(turns.resolve({"record_id": f"n{i}"}) for i in range(3)),
            return_exceptions=True,
        )

    assert all(isinstance(r, NotReadyError) for r in asyncio.run(main()))
    assert store.count_decisions("crm") == 0


def test_a_row_the_store_cannot_write_is_told_not_left_waiting(store):
    turns = batcher(CountingPolicy(), store)

    async def main():
        one = turns.resolve({"record_id": "odd", "tags": {"not", "json"}})  # a set: no JSON
        return await asyncio.wait_for(asyncio.gather(one, return_exceptions=True), 10)

    (result,) = asyncio.run(main())
    assert isinstance(result, TypeError) and "set" in str(result)
    assert store.count_decisions("crm") == 0
