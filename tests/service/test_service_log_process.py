"""The decision-log writer process: same rows as the writer thread, answers only after the commit,
a failure or a dead writer told to every waiting request, and nothing received is dropped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autoresolve.service import log_process
from autoresolve.service.store import DecisionStore, StoreUnavailable, decision_row
from tests.service.test_service_store import CRM, dec, rec
from tests.support import ROOT


def make_store(path: Path, *, busy_timeout_ms: int = 5_000, process: bool = True):
    s = DecisionStore.from_url(
        f"sqlite:///{path}",
        group_commit=True,
        writer_process=process,
        busy_timeout_ms=busy_timeout_ms,
    )
    s.migrate()
    return s


def rows_of(ids: list[str]) -> list[tuple]:
    probs = [(0.5 + i / 10_000, 0.25 - i / 100_000) for i in range(len(ids))]
    return [
        decision_row(
            "crm",
            dec(rid, reason=("novel", "low_confidence", "rule")[i % 3], probs=probs[i]),
            rec(rid, notes=f'Zoë ✓ "q" \\ \u2028 {i}', employees=i / 7),
        )
        for i, rid in enumerate(ids)
    ]


def table(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM decisions ORDER BY id").fetchall()


async def submit(store: DecisionStore, rows: list[tuple]) -> None:
    future = asyncio.get_running_loop().create_future()
    store.log_rows_into(rows, future)
    await future


@pytest.mark.parametrize("n", [1, 45, 450])  # one INSERT; a transaction of several
def test_rows_are_written_exactly_as_the_writer_thread_writes_them(tmp_path, n):
    rows = rows_of([f"r{i:04d}" for i in range(n)])
    by_thread = make_store(tmp_path / "thread.db", process=False)
    by_process = make_store(tmp_path / "process.db")
    try:
        asyncio.run(submit(by_thread, rows))
        asyncio.run(submit(by_process, rows))
        assert by_process._process.commits == 1
        assert table(tmp_path / "process.db") == table(tmp_path / "thread.db")
        assert len(table(tmp_path / "process.db")) == n
        frame = by_process.decisions_frame(CRM)
        assert list(frame["notes"]) == [json.loads(r[-2])["notes"] for r in rows]
    finally:
        by_thread.close()
        by_process.close()


def test_many_submits_in_flight_each_answered_after_its_commit(tmp_path):
    store = make_store(tmp_path / "s.db")
    seen: list[tuple[int, int]] = []

    async def one(i: int) -> None:
        await submit(store, rows_of([f"m{i:03d}"]))
        seen.append((i, store.count_decisions(CRM)))

    async def main():
        await asyncio.gather(*(one(i) for i in range(200)))

    try:
        asyncio.run(main())
        assert store.count_decisions(CRM) == 200
        assert all(count >= i + 1 for i, count in seen)  # its own row and those sent before it
        assert 1 <= store._process.commits <= 200
    finally:
        store.close()


def test_a_locked_store_fails_the_waiting_requests_then_recovers(tmp_path):
    store = make_store(tmp_path / "s.db", busy_timeout_ms=200)
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)

    async def main():
        await submit(store, rows_of(["before"]))
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="database is locked; nothing was written"):
            await submit(store, rows_of(["during"]))
        locker.execute("ROLLBACK")
        await submit(store, rows_of(["after"]))

    try:
        asyncio.run(main())
        assert store.decided_ids(CRM) == {"before", "after"}
    finally:
        locker.close()
        store.close()


def test_a_killed_writer_fails_the_waiting_requests_and_a_new_one_starts(tmp_path):
    store = make_store(tmp_path / "s.db", busy_timeout_ms=20_000)
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)

    async def main():
        await submit(store, rows_of(["first"]))
        first_pid = store._process._proc.pid
        locker.execute("BEGIN EXCLUSIVE")  # the writer now waits inside its commit
        pending = asyncio.ensure_future(submit(store, rows_of(["lost"])))
        await asyncio.sleep(0.3)
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(StoreUnavailable, match="writer process exited"):
            await asyncio.wait_for(pending, 10)
        locker.execute("ROLLBACK")
        await submit(store, rows_of(["second"]))
        assert store._process._proc.pid != first_pid

    try:
        asyncio.run(main())
        assert store.decided_ids(CRM) == {"first", "second"}
    finally:
        locker.close()
        store.close()


def test_close_commits_what_was_sent_before_it(tmp_path):
    store = make_store(tmp_path / "s.db")

    async def main():
        loop = asyncio.get_running_loop()
        for i in range(50):
            store.log_rows_into(rows_of([f"c{i:02d}"]), loop.create_future())
        store.close()  # on the loop thread, as the lifespan's shutdown does

    asyncio.run(main())
    assert len(table(tmp_path / "s.db")) == 50


def test_the_writer_commits_what_it_received_when_the_server_dies(tmp_path):
    """A dead server closes the writer's input: what reached the pipe is committed, then exit."""
    store = make_store(tmp_path / "s.db", process=False)
    store.close()
    payload = json.dumps([1, rows_of(["orphan-1", "orphan-2"])]).encode()
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "autoresolve.service.log_process",
            str(tmp_path / "s.db"),
            "NORMAL",
            "5000",
        ],
        input=log_process._HEADER.pack(len(payload)) + payload,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert child.stdout == b"C 1\n"
    assert [r[2] for r in table(tmp_path / "s.db")] == ["orphan-1", "orphan-2"]


def test_frames_split_anywhere_are_read_whole():
    frames = [(i, [["a" * i, i / 3, None]]) for i in range(1, 6)]
    stream = b"".join(
        log_process._HEADER.pack(len(p)) + p for p in (json.dumps(f).encode() for f in frames)
    )
    for cut in range(len(stream) + 1):
        buf = bytearray(stream[:cut])
        got = log_process._frames(buf)
        buf += stream[cut:]
        got += log_process._frames(buf)
        assert [tuple(f) for f in got] == frames
        assert not buf


def test_other_event_loops_use_the_writer_thread(tmp_path):
    store = make_store(tmp_path / "s.db")
    try:
        asyncio.run(submit(store, rows_of(["loop-1"])))
        asyncio.run(submit(store, rows_of(["loop-2"])))  # a second loop: not the writer's
        assert store._process.commits == 1
        assert store._group.commits == 1
        assert store.decided_ids(CRM) == {"loop-1", "loop-2"}
    finally:
        store.close()


def test_a_writer_answering_out_of_protocol_is_replaced(tmp_path, monkeypatch):
    impostor = tmp_path / "impostor.sh"
    impostor.write_text("#!/bin/sh\necho 'not an answer'\nexec cat > /dev/null\n")
    impostor.chmod(0o755)
    store = make_store(tmp_path / "s.db")

    async def main():
        with monkeypatch.context() as m:
            m.setattr(log_process.sys, "executable", str(impostor))
            with pytest.raises(StoreUnavailable, match="writer process exited"):
                await asyncio.wait_for(submit(store, rows_of(["x"])), 10)
        await submit(store, rows_of(["y"]))  # a real writer again

    try:
        asyncio.run(main())
        assert store.decided_ids(CRM) == {"y"}
    finally:
        store.close()
