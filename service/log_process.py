"""The decision-log writer as a process of its own, for the scoring endpoint on a SQLite file store.

Why a process: a writer *thread* needs the GIL to pick up rows and again after each commit.
While the event loop is busy deciding records, it gets the GIL only at the switch interval, so
commits come late; and each hand-over of the GIL costs the loop thread CPU (tens of µs on a
virtualised machine). A child process commits on the other core and shares no GIL: the loop hands
it bytes through a pipe and learns of each commit from a pipe it polls with its sockets. Under
the HTTP benchmark the loop thread's CPU per request fell from 153 to 138 µs and throughput rose
by about 14% (docs/performance.md).

The guarantee is unchanged: a request is answered only after the transaction holding its row has
committed. If the writer dies, every request waiting for it gets a 503 and the next request starts
a new writer. If the server dies, the writer commits what it has already received, sees the end
of its input, and exits.

Protocol. Parent → child: frames of a 4-byte little-endian length and the JSON `[seq, rows]`.
The child reads whatever has arrived, commits the rows of every complete frame in one
transaction, and answers one line per commit: `C <seq>` (every frame up to `seq` committed) or
`F <seq> <message>` (every frame up to `seq` failed, none of its rows written).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import json
import logging
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autoresolve.service import sqlite_log

log = logging.getLogger("autoresolve.store")

_HEADER = struct.Struct("<I")
_PIPE_BYTES = 1 << 20  # room for many turns' rows, so a busy writer rarely makes the loop queue
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


class LogProcess:
    """The parent's side: `submit_into(rows, future)` from the event loop that owns it."""

    def __init__(
        self,
        database: str,
        *,
        synchronous: str,
        busy_timeout_ms: int,
        unavailable: Callable[[str], Exception],
    ):
        self.database = database
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._unavailable = unavailable  # message → the error a waiting request is given
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: subprocess.Popen | None = None
        self._seq = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
        self._unsent = bytearray()  # frames the pipe had no room for yet
        self._answers = bytearray()
        self.commits = 0  # answered commits so far (tests, diagnostics)

    def serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True when rows submitted from `loop` can go to this writer (one loop owns it)."""
        return self._loop is None or self._loop is loop

    def submit_into(self, rows: Sequence[Sequence[Any]], future: asyncio.Future) -> None:
        """Send rows to the writer; `future` is settled when they are committed or have failed.
        Call from the event loop thread that owns this writer (see `serves`)."""
        try:
            payload = _encode([self._seq + 1, rows]).encode()
        except (TypeError, ValueError) as exc:
            future.set_exception(self._unavailable(f"a row could not be encoded ({exc})"))
            return
        if self._proc is None:
            try:
                self.start(future.get_loop())
            except OSError as exc:
                future.set_exception(self._unavailable(f"the writer process did not start: {exc}"))
                return
        self._seq += 1
        self._waiting.append((self._seq, future))
        self._send(_HEADER.pack(len(payload)) + payload)

    # -- the pipes ----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer for `loop` now (else the first submit does); no-op when running."""
        if self._proc is not None:
            return
        root = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        self._proc = subprocess.Popen(  # noqa: S603 (our interpreter, our settings)
            [
                sys.executable,
                "-m",
                "autoresolve.service.log_process",
                self.database,
                self.synchronous,
                str(self.busy_timeout_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._loop = loop
        for pipe in (self._proc.stdin, self._proc.stdout):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            with contextlib.suppress(OSError):  # Linux only; the default 64 KB also works
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        assert self._proc.stdout is not None
        loop.add_reader(self._proc.stdout.fileno(), self._on_answers)
        log.info("decision-log writer process %d started for %s", self._proc.pid, self.database)

    def _send(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None and self._loop is not None
        fd = self._proc.stdin.fileno()
        if self._unsent:
            self._unsent += data
            return
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:  # the writer has gone; its answers pipe says so next (see _on_answers)
            return
        if sent < len(data):
            self._unsent += data[sent:]
            self._loop.add_writer(fd, self._flush)

    def _flush(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None and self._loop is not None
        fd = self._proc.stdin.fileno()
        try:
            sent = os.write(fd, self._unsent)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._unsent)  # gone: drop, the waiting requests are failed by _on_answers
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(fd)

    def _on_answers(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            data = os.read(self._proc.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._stopped()
            return
        self._answers += data
        end = self._answers.rfind(b"\n")
        if end < 0:
            return
        lines = bytes(self._answers[:end]).split(b"\n")
        del self._answers[: end + 1]
        for line in lines:
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            seq, _, reason = rest.partition(" ")
            if kind not in ("C", "F") or not seq.isdigit():  # not our protocol: start afresh
                log.error("decision-log writer process answered %r; restarting it", line[:200])
                self._proc.kill()  # its end of input comes next, and fails what waits
                return
            error = None if kind == "C" else self._unavailable(reason or "unknown error")
            if error is None:
                self.commits += 1
            self._settle_through(int(seq), error)

    def _settle_through(self, seq: int, error: Exception | None) -> None:
        waiting = self._waiting
        while waiting and waiting[0][0] <= seq:
            _, future = waiting.popleft()
            if future.done():  # its requests went away
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _stopped(self) -> None:
        """The writer exited: fail what waits for it; the next submit starts a new one."""
        proc = self._proc
        if proc is None:
            return
        self._detach()
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # closed its output but lingers
            proc.kill()
            code = proc.wait()
        if self._waiting:
            log.error(
                "decision-log writer process %d exited (code %s) with %d commits pending",
                proc.pid,
                code,
                len(self._waiting),
            )
        self._settle_through(
            self._seq,
            self._unavailable(
                f"the decision-log writer process exited (code {code}) before confirming the "
                "commit; the decision may or may not be in the log"
            ),
        )

    def _detach(self) -> None:
        proc, loop = self._proc, self._loop
        self._proc = None
        if proc is None or loop is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(Exception):  # the loop may already be closed
            loop.remove_reader(proc.stdout.fileno())
            loop.remove_writer(proc.stdin.fileno())
        self._unsent.clear()
        self._answers.clear()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        self._loop = None

    def close(self, timeout: float = 10.0) -> None:
        """End the writer's input and wait for it to commit what it holds and exit."""
        proc = self._proc
        if proc is None:
            return
        if self._unsent and proc.stdin is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(proc.stdin.fileno(), True)
                proc.stdin.write(self._unsent)
                proc.stdin.flush()
            self._unsent.clear()
        self._detach()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------ the child process


def _frames(buf: bytearray) -> list[tuple[int, list]]:
    """Complete frames at the front of `buf` (removed from it)."""
    out, pos = [], 0
    while len(buf) - pos >= _HEADER.size:
        (n,) = _HEADER.unpack_from(buf, pos)
        if len(buf) - pos - _HEADER.size < n:
            break
        start = pos + _HEADER.size
        seq, rows = json.loads(bytes(buf[start : start + n]))
        out.append((seq, rows))
        pos = start + n
    del buf[:pos]
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def serve(
    database: str, synchronous: str, busy_timeout_ms: int, inp: int = 0, out: int = 1
) -> None:
    """Commit frames from `inp`, answer on `out`, until `inp` ends."""
    db: sqlite3.Connection | None = None
    buf = bytearray()
    while True:
        chunk = os.read(inp, _PIPE_BYTES)
        if not chunk:
            break
        buf += chunk
        frames = _frames(buf)
        if not frames:
            continue
        last = frames[-1][0]
        try:
            if db is None:
                db = sqlite_log.connect(
                    database, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
                )
            sqlite_log.commit_rows(db, [row for _, rows in frames for row in rows])
            answer = f"C {last}\n"
        except sqlite3.Error as exc:
            answer = f"F {last} {_first_line(exc)}; nothing was written\n"
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
                db = None  # a fresh connection next time, whatever state this one is in
        data = answer.encode()
        while data:
            data = data[os.write(out, data) :]
    if db is not None:
        db.close()


def main(argv: list[str]) -> None:
    database, synchronous, busy = argv
    # A Ctrl-C or SIGTERM meant for the server reaches its whole process group: the writer keeps
    # committing what it has received until the server closes its input (or dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(database, synchronous, int(busy))


if __name__ == "__main__":
    main(sys.argv[1:])
