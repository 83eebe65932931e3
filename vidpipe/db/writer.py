"""One writer per SQLite database file per process: the node-state writes of every thread
of the process run on one thread, several in one transaction.

SQLite has one write lock per file. With the engine's node threads each opening its own
`BEGIN IMMEDIATE`, a node's start and finish were mostly spent queueing on that lock
(SQLite's busy handler sleeps in steps of up to 100 ms). Here a write is queued with the
function that performs it; the writer takes everything queued, runs it in one transaction,
commits, and only then answers each caller. Should a write raise, the transaction is
rolled back and the batch run again with each write in a savepoint of its own, so a
failing write fails alone and the rest commit. A write that returned is committed,
as before, and the stale-execution guard is the same single conditional UPDATE, now run
inside the batch. Writes from other processes still queue on SQLite's lock as before.

A caller may also queue a write without waiting for it (`enqueue`): it gets the write's
future and goes on. The writer takes its queue in order, so every write a thread queues
later, waited for or not, is applied after it, and once a later write has returned, the
earlier one has been committed too (or has failed, which its future says). Until then a
kill may lose it: only writes whose loss costs nothing may be queued so (a local node's
start and end, `vidpipe.db.start_node` and `finish_node`); `flush` waits for them before
reading, and the process's exit for what is left (`stop_writers`).

PostgreSQL has row locks and no such queue: there each write is its own transaction, in
the caller's thread. So is an in-memory SQLite database (one shared connection).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

__all__ = ["write", "enqueue", "flush", "stop_writers", "MAX_BATCH"]

T = TypeVar("T")

#: Writes taken into one transaction at most (a bound on how long one commit waits).
MAX_BATCH = 64

_STOP = object()


class _Writer:
    """The thread that performs one engine's queued writes (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.last: Future[Any] | None = None
        self.submitting = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="vidpipe-db-writer", daemon=True)
        self.thread.start()

    def submit(self, op: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        with self.submitting:  # `last` is the write queued last, whichever thread won
            self.queue.put((op, future))
            self.last = future  # done: so is everything queued before it
        return future

    def stop(self) -> None:
        self.queue.put(_STOP)

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self.queue.put(_STOP)  # after this batch
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        try:
            try:
                outcomes = self._attempt(batch, isolated=False)
            except Exception:  # noqa: BLE001 - a write failed: again, each in a savepoint
                outcomes = self._attempt(batch, isolated=True)
        except BaseException as exc:  # the commit failed: nothing in the batch was written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _attempt(
        self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]], *, isolated: bool
    ) -> list[tuple[Future[Any], Any, BaseException | None]]:
        """Run the batch in one transaction and commit it. Not `isolated`, the writes run
        one after another and the first that raises rolls the whole transaction back (the
        usual case, where none fails, costs no savepoints); `isolated`, each runs in a
        savepoint of its own, so a failing write fails alone and the rest commit."""
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        with self.engine.begin() as conn:
            for op, future in batch:
                if not isolated:
                    outcomes.append((future, op(conn), None))
                    continue
                savepoint = conn.begin_nested()
                try:
                    result = op(conn)
                except Exception as exc:  # noqa: BLE001 - handed to its caller
                    savepoint.rollback()
                    outcomes.append((future, None, exc))
                else:
                    savepoint.commit()
                    outcomes.append((future, result, None))
        return outcomes


_writers: dict[tuple[int, int], _Writer] = {}
_writers_lock = threading.Lock()


def _queued(engine: Engine) -> bool:
    """Whether writes to this engine go through a writer thread: SQLite files only."""
    if engine.dialect.name != "sqlite":
        return False
    database = engine.url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file::memory:")


def write(engine: Engine, op: Callable[[Connection], T]) -> T:
    """Run `op(connection)` in a committed write transaction and return its result.

    On a SQLite file it runs on the database's writer thread, batched with other threads'
    writes; elsewhere in a transaction of its own. Either way it has been committed when
    this returns, and an exception from `op` is raised here with nothing of it written.
    """
    writer = _writer_for(engine)
    if writer is None:
        with engine.begin() as conn:
            return op(conn)
    return writer.submit(op).result()


def enqueue(engine: Engine, op: Callable[[Connection], T]) -> Future[T]:
    """Queue `op(connection)` as `write` would, without waiting: its future, done once it
    has been committed (or has failed). Elsewhere than on a SQLite file the write is done
    before this returns. What is promised meanwhile: the module's docstring."""
    writer = _writer_for(engine)
    if writer is not None:
        return writer.submit(op)
    future: Future[T] = Future()
    try:
        with engine.begin() as conn:
            future.set_result(op(conn))
    except Exception as exc:  # noqa: BLE001 - handed over in the future, as the writer does
        future.set_exception(exc)
    return future


def _writer_for(engine: Engine) -> _Writer | None:
    """The writer thread of this process for `engine`, started if need be; None where
    writes are not queued (`_queued`)."""
    if not _queued(engine):
        return None
    key = (os.getpid(), id(engine))  # a forked child gets writers of its own
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None or not writer.thread.is_alive():
            writer = _writers[key] = _Writer(engine)
    return writer


def flush(engine: Engine) -> None:
    """Wait until every write this process queued for `engine` so far has been committed
    (or has failed: its caller hears of that): before reading what they wrote. Costs a
    dictionary lookup when nothing is queued."""
    with _writers_lock:
        writer = _writers.get((os.getpid(), id(engine)))
    last = writer.last if writer is not None else None
    if last is not None and not last.done():
        futures.wait([last])


def stop_writers() -> None:
    """Let every writer thread end once its queue is done, and wait for that (engines
    being disposed, the process exiting: nothing queued is dropped)."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.stop()
    for writer in writers:
        if writer.thread is not threading.current_thread():
            writer.thread.join(_DRAIN_TIMEOUT_S)


#: How long stopping waits for a writer to commit what it was given.
_DRAIN_TIMEOUT_S = 60.0

# Writer threads are daemons (a stuck database must not hang the exit), so the queue is
# drained here, before the interpreter stops them.
atexit.register(stop_writers)
