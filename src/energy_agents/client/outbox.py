"""An on-disk outbox: every recommendation is stored before it is posted and deleted only
when the server acknowledged it, so a server that is down (or restarting) loses nothing.

One SQLite file per agent (``<data_dir>/outbox/<agent>.sqlite``, WAL, ``synchronous=FULL``).
Entries are keyed by ``message_id``, so enqueueing the same message twice stores it once,
and the server stores a redelivered message once too (its ``message_id`` makes the post
idempotent). Bodies refused for good (4xx other than auth/rate limits) move to ``dead``
with the server's answer, for inspection, instead of blocking the queue.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

SENT_KEPT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sent (
    message_id TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    message_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class Outbox:
    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def put(self, message_id: str, payload: dict[str, Any]) -> bool:
        """Store a message to send; False when one with this id is already queued."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO outbox (message_id, payload, created) VALUES (?, ?, ?)",
            (message_id, json.dumps(payload), time.time()),
        )
        return cur.rowcount == 1

    def pending(self, limit: int = 50) -> list[tuple[str, dict[str, Any]]]:
        """The oldest unacknowledged messages, oldest first."""
        rows = self.db.execute(
            "SELECT message_id, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(mid, json.loads(p)) for mid, p in rows]

    def attempted(self, message_id: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE message_id = ?", (message_id,)
        )

    def ack(self, message_id: str) -> None:
        """The server has it: forget the body, remember the id (the last ``SENT_KEPT``)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))
            self.db.execute(
                "INSERT OR REPLACE INTO sent (message_id, at) VALUES (?, ?)",
                (message_id, time.time()),
            )
            self.db.execute(
                "DELETE FROM sent WHERE message_id NOT IN "
                "(SELECT message_id FROM sent ORDER BY at DESC LIMIT ?)",
                (SENT_KEPT,),
            )

    def known(self, message_id: str) -> bool:
        """True when this message is queued, was delivered, or was refused for good: a
        restarted agent does not answer the same observation twice."""
        row = self.db.execute(
            "SELECT 1 FROM outbox WHERE message_id = ? UNION ALL "
            "SELECT 1 FROM sent WHERE message_id = ? UNION ALL "
            "SELECT 1 FROM dead WHERE message_id = ? LIMIT 1",
            (message_id, message_id, message_id),
        ).fetchone()
        return row is not None

    def dead(self, message_id: str, status: int, answer: Any) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR REPLACE INTO dead SELECT message_id, payload, ?, ?, ? "
                "FROM outbox WHERE message_id = ?",
                (status, json.dumps(answer), time.time(), message_id),
            )
            self.db.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def dead_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM dead").fetchone()[0])


class Backoff:
    """Exponential back-off with full jitter: 0.1 s doubling up to ``cap`` seconds."""

    def __init__(self, initial: float = 0.1, cap: float = 5.0, rng: random.Random | None = None):
        self.initial, self.cap = initial, cap
        self.attempt = 0
        self.rng = rng or random.Random()

    def reset(self) -> None:
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return delay * (0.5 + 0.5 * self.rng.random())
