"""Connections, transactions and group commit for the two databases (SQLite, PostgreSQL).

- Reads use one connection per thread (autocommit; WAL readers never wait for the writer).
- Writes go through the process's one :class:`WriterThread` (started on the first write):
  each request's write is a function of the open transaction; the thread takes the write
  lock, runs every function queued by then in one transaction, commits once (one fsync for
  the group) and wakes the group's callers: a blocking thread (Flask under any WSGI server)
  or the event loop's futures (the RSGI app), so the loop never blocks on the database.
  Nothing is answered before its transaction committed.
- Writers of all processes (server workers, hosts) are serialized: SQLite by its write lock
  (``BEGIN IMMEDIATE``, retried with sub-millisecond sleeps instead of SQLite's coarse busy
  handler; this server's workers queue on a blocking ``flock`` first), PostgreSQL by a
  transaction-scoped advisory lock. So message ids grow in commit order everywhere, and a
  cursor over ids never skips a row committed late.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("energy_agents.server.store")

WRITE_LOCK_KEY = 0x45_4E_41_47  # advisory lock ids (PostgreSQL): writes
MIGRATE_LOCK_KEY = 0x45_4E_41_4D  # and migrations
BUSY_DEADLINE_S = 10.0
MAX_GROUP = 256
WRITER_NICE = -10  # WriterThread's scheduling priority (nice value; see _loop)


class StoreError(RuntimeError):
    """The database failed or is unreachable: the server answers 503 and stores nothing."""


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class Tx:
    """An open transaction: ``execute`` with ``?`` placeholders on both databases."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.cache: dict[str, Any] = {}
        self.before_commit: list[Callable[[Tx], None]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())


class Database:
    """One database: thread-local read connections, one writer connection per process."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "full") -> None:
        if sqlite_synchronous not in ("full", "normal"):
            raise ValueError("sqlite_synchronous: must be 'full' or 'normal'")
        self.sqlite_synchronous = sqlite_synchronous
        self.url = url
        self.dialect = "postgresql" if is_postgres(url) else "sqlite"
        if self.dialect == "sqlite":
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
            self.path = str(Path(path))
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writer: Any = None
        self._lock_fd: int | None = None
        self._pid = os.getpid()
        self._writer_thread: WriterThread | None = None
        self.on_group: Callable[[int], None] | None = None  # told each committed group's size

    # ------------------------------------------------------------------ connections
    def _errors(self) -> tuple[type[BaseException], ...]:
        if self.dialect == "postgresql":
            import psycopg

            return (psycopg.Error,)
        return (sqlite3.Error,)

    def _connect(self, *, writer: bool) -> Any:
        if self.dialect == "postgresql":
            import psycopg

            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=0.0 if writer else BUSY_DEADLINE_S,
        )
        # FULL: every commit is fsynced before the answer (survives power loss); NORMAL:
        # committed to the WAL file, survives a killed process but maybe not a power cut.
        conn.execute(f"PRAGMA synchronous={self.sqlite_synchronous.upper()}")
        return conn

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # never share a connection with a parent process
            self._local = threading.local()
            self._writer = None
            self._lock_fd = None  # flock is per open file: each process opens its own
            self._pid = os.getpid()
            self._writer_thread = None  # threads do not survive a fork

    def reader(self) -> Tx:
        self._check_fork()
        conn = getattr(self._local, "conn", None)
        if conn is None or (self.dialect == "postgresql" and conn.closed):
            try:
                conn = self._connect(writer=False)
            except self._errors() as exc:
                raise StoreError(f"cannot connect to the database: {exc}") from exc
            self._local.conn = conn
        return Tx(conn, self.dialect)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read; a database error becomes :class:`StoreError` and drops the connection."""
        tx = self.reader()
        try:
            yield tx
        except self._errors() as exc:
            self._drop_reader()
            raise StoreError(f"database error: {exc}") from exc

    def _drop_reader(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self.stop_writer_thread()
        self._drop_reader()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def transaction(self, conn: Any, *, lock_key: int = WRITE_LOCK_KEY) -> Iterator[Tx]:
        """A write transaction holding the cross-process write lock; commits on success."""
        tx = Tx(conn, self.dialect)
        if self.dialect == "postgresql":
            with conn.transaction():
                tx.execute("SELECT pg_advisory_xact_lock(?)", (lock_key,))
                yield tx
            return
        with self.writers_lock():
            _begin_immediate(conn)
            try:
                yield tx
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def writers_lock(self) -> Iterator[None]:
        """SQLite: a blocking ``flock`` on ``<database>-writers`` around each write
        transaction. SQLite's own lock can only be polled (``BEGIN IMMEDIATE`` retried); the
        flock wakes the next worker's writer exactly when the lock is free, without polls.
        The retry loop stays for writers that do not take the flock (other programs)."""
        if self.path == ":memory:":
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(f"{self.path}-writers", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def write(self, fn: Callable[[Tx], Any]) -> Any:
        """Run ``fn`` inside a committed write transaction, grouped with concurrent writes on
        the process's writer thread (its one writer connection never runs two at once)."""
        return self.start_writer_thread().call(fn)

    def start_writer_thread(
        self, deliver: Callable[[list[Ticket]], None] | None = None
    ) -> WriterThread:
        """This process's :class:`WriterThread`, started if need be; ``deliver`` (an event
        loop's, see there) receives the finished tickets that carry a ``waiter``."""
        self._check_fork()
        if self._writer_thread is None:
            self._writer_thread = WriterThread(self._run_group, deliver or _no_waiters)
        elif deliver is not None:
            self._writer_thread.deliver = deliver
        return self._writer_thread

    def stop_writer_thread(self) -> None:
        if self._writer_thread is not None:
            self._writer_thread.stop()
            self._writer_thread = None

    def _writer_conn(self) -> Any:
        if self._writer is None or (self.dialect == "postgresql" and self._writer.closed):
            self._writer = self._connect(writer=True)
        return self._writer

    def _run_group(self, take: Callable[[], list[Ticket]]) -> list[Ticket]:
        tickets: list[Ticket] = []
        try:
            conn = self._writer_conn()
            with self.transaction(conn) as tx:
                tickets = take()  # after the write lock: whoever queued while we waited
                for t in tickets:
                    t.result = t.fn(tx)
                for hook in tx.before_commit:
                    hook(tx)
        except self._errors() as exc:
            tickets = tickets or take()
            log.error("write failed: %s", exc)
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.close()
            self._writer = None
            err = StoreError(f"database error: {exc}")
            for t in tickets:
                t.error = err
        except Exception as exc:  # a bug in a write function: fail the group, never hang
            log.exception("write failed")
            tickets = tickets or take()
            for t in tickets:
                t.error = exc
        else:
            if self.on_group is not None:
                self.on_group(len(tickets))
        return tickets


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every 0.2-2 ms while another process holds the lock."""
    deadline = time.monotonic() + BUSY_DEADLINE_S
    delay = 0.0002
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.002)


def _held_lock() -> Any:
    lock = threading.Lock()
    lock.acquire()
    return lock


def _no_waiters(tickets: list[Ticket]) -> None:
    """The default ``deliver``: only blocking callers, whom the writer thread wakes itself."""


@dataclass(eq=False)
class Ticket:
    fn: Callable[[Tx], Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    # Held until this ticket's thread may go on (its group committed, or its turn to lead):
    # each waiting thread is woken exactly once, never by another group's commit.
    wake: Any = field(default_factory=_held_lock)
    waiter: Any = None  # for WriterThread's caller: what to wake when the group is done


class WriterThread:
    """Group commit for an event loop: ``submit`` queues a ticket and returns at once; one
    thread runs whatever is queued as one transaction (``run(take)``, as
    the module docstring). The finished group's tickets with a ``waiter`` (the loop's) go to
    ``deliver``, called on this thread (it must only schedule their wake-ups); the others
    come from blocking :meth:`call` callers, woken here."""

    def __init__(
        self,
        run: Callable[[Callable[[], list[Ticket]]], list[Ticket]],
        deliver: Callable[[list[Ticket]], None],
    ) -> None:
        self._run = run
        self.deliver = deliver
        self._cv = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="energy-agents-writer")
        self._thread.daemon = True  # stop() drains it; a killed process loses nothing committed
        self._thread.start()

    def call(self, fn: Callable[[Tx], Any]) -> Any:
        """Run ``fn`` in the next group and wait for its commit (from any other thread)."""
        ticket = Ticket(fn)
        self.submit(ticket)
        ticket.wake.acquire()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def submit(self, ticket: Ticket) -> None:
        with self._cv:
            if self._stopping:
                raise StoreError("the server is stopping")
            self._queue.append(ticket)
            self._cv.notify()

    def _take(self) -> list[Ticket]:
        with self._cv:
            return [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]

    def _loop(self) -> None:
        # The group holds the write lock all workers queue on: the sooner it is scheduled,
        # the sooner the lock is free (under load this halves the time it is held). Raising
        # a priority needs root or CAP_SYS_NICE; without, the thread runs at normal priority.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
        except OSError as exc:
            log.debug("writer thread at normal priority: %s", exc)
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait()
                if not self._queue:
                    return  # stopping, and everything queued was written
            group = self._run(self._take)  # sets each ticket's result or error
            for t in group:
                if t.waiter is None:
                    t.wake.release()
            self.deliver([t for t in group if t.waiter is not None])

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout_s)
