"""The server's store: every SQL statement of the server is in this package.

Queries are bounded: each uses an index and a LIMIT, so their cost does not grow with the
number of stored messages (see docs/server.md for the list).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .db import MIGRATE_LOCK_KEY, Database, StoreError, Tx
from .migrations import LATEST_VERSION, MIGRATIONS, statements

log = logging.getLogger("energy_agents.server.store")

STATES_KEPT = 2000  # published observations kept (the latest ones); records are all kept
STRATEGY_STATES_KEPT = 1000  # steps of strategy state kept behind the latest published step
WINDOW_AGENTS_MAX = 100
NONCE_PRUNE_EVERY_S = 10.0

MESSAGE_COLUMNS = (
    "id, agent_name, message_id, message, timestamp, step, schema_version, levers, "
    "confidence, expected_saving_ct, data, signed, received_at"
)


@dataclass(frozen=True)
class NewMessage:
    """A validated message ready to store (JSON fields already serialized)."""

    agent_name: str
    message: str
    timestamp: str
    message_id: str | None  # None: the server makes one (no idempotency)
    step: int | None
    schema_version: int | None = None
    levers: str | None = None
    confidence: float | None = None
    expected_saving_ct: float | None = None
    data: str | None = None
    body_hash: str = ""


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    step: int | None
    signed: bool
    duplicate: bool


@dataclass(frozen=True)
class Refusal:
    """A write refused as a whole (nothing of it stored)."""

    status: int
    field: str
    reason: str


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def message_row_to_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A stored message as ``GET /messages`` shows it: the seed's three fields first."""
    (pk, agent, mid, message, ts, step, version, levers, conf, saving, data, signed, rcv) = row
    out: dict[str, Any] = {"agent_name": agent, "message": message, "timestamp": ts}
    out["message_id"] = mid
    if step is not None:
        out["step"] = int(step)
    if version is not None:
        out["schema_version"] = int(version)
        out["levers"] = _loads(levers) or {}
        out["confidence"] = conf
        out["expected_saving_ct"] = saving
        out["data"] = _loads(data) or {}
    out["signed"] = bool(signed)
    out["received_at"] = rcv
    out["id"] = int(pk)
    return out


class Store:
    def __init__(
        self, url: str, *, nonce_ttl_s: float = 180.0, sqlite_synchronous: str = "full"
    ) -> None:
        self.db = Database(url, sqlite_synchronous=sqlite_synchronous)
        self.dialect = self.db.dialect
        self.nonce_ttl_s = nonce_ttl_s
        self._last_prune = 0.0

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ schema
    def migrate(self) -> int:
        """Bring the schema to the latest version in place; safe when several processes start
        at once (SQLite: an exclusive transaction; PostgreSQL: an advisory lock)."""
        try:
            if self.dialect == "sqlite":
                return self._migrate_sqlite()
            return self._migrate_postgres()
        except StoreError:
            raise
        except Exception as exc:
            if not _is_db_error(exc):
                raise
            raise StoreError(f"cannot open the database {self._safe_url()}: {exc}") from exc

    def _safe_url(self) -> str:
        if self.dialect == "postgresql" and "@" in self.db.url:
            scheme, rest = self.db.url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.db.url

    def _migrate_sqlite(self) -> int:
        # The writers' flock serializes concurrent first starts: two connections that both
        # read the new file and then ask for WAL would deadlock on the lock upgrade, and
        # SQLite answers one of them "database is locked" without waiting.
        with self.db.writers_lock():
            return self._migrate_sqlite_locked()

    def _migrate_sqlite_locked(self) -> int:
        conn = sqlite3.connect(self.db.path, isolation_level=None, timeout=60.0)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal" and self.db.path != ":memory:":
                raise StoreError(f"{self.db.path}: cannot switch to WAL mode ({mode})")
            conn.execute("BEGIN EXCLUSIVE")
            try:
                version = self._apply(Tx(conn, "sqlite"))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return version
        finally:
            conn.close()

    def _migrate_postgres(self) -> int:
        import psycopg

        with psycopg.connect(self.db.url, autocommit=True, connect_timeout=10) as conn:
            tx = Tx(conn, "postgresql")
            tx.execute("SELECT pg_advisory_lock(?)", (MIGRATE_LOCK_KEY,))
            try:
                with conn.transaction():
                    return self._apply(tx)
            finally:
                tx.execute("SELECT pg_advisory_unlock(?)", (MIGRATE_LOCK_KEY,))

    def _apply(self, tx: Tx) -> int:
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = tx.one("SELECT MAX(version) FROM schema_version")
        version = int(row[0]) if row and row[0] is not None else 0
        if version > LATEST_VERSION:
            raise StoreError(
                f"the database is at schema version {version}, newer than this server "
                f"({LATEST_VERSION}): upgrade the server"
            )
        for number, description, sql in MIGRATIONS:
            if number <= version:
                continue
            log.info("migrating the store to version %d: %s", number, description)
            for stmt in statements(self.dialect, sql):
                tx.execute(stmt)
            tx.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            version = number
        return version

    def schema_version(self) -> int:
        with self.db.read() as tx:
            row = tx.one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    # ------------------------------------------------------------------ messages
    def add_messages(
        self,
        messages: Sequence[NewMessage],
        *,
        signed: bool,
        nonce: tuple[str, str, float] | None = None,
    ) -> list[StoredMessage] | Refusal:
        """Store a request's messages atomically: all of them (duplicates of an earlier post
        with the same ``message_id`` are answered as stored, not stored again), or none."""
        return self.db.write(self.messages_write(messages, signed=signed, nonce=nonce))

    def messages_write(
        self,
        messages: Sequence[NewMessage],
        *,
        signed: bool,
        nonce: tuple[str, str, float] | None = None,
    ) -> Callable[[Tx], list[StoredMessage] | Refusal]:
        """:meth:`add_messages`'s write, as a function of the open transaction (for a caller
        that queues it on a :class:`~.db.WriterThread`)."""

        def write(tx: Tx) -> list[StoredMessage] | Refusal:
            return self._add(tx, messages, signed, nonce)

        return write

    def _add(
        self,
        tx: Tx,
        messages: Sequence[NewMessage],
        signed: bool,
        nonce: tuple[str, str, float] | None,
    ) -> list[StoredMessage] | Refusal:
        """One request's write, inside the group's transaction, all or nothing: a replayed
        nonce or a reused message id with another body leaves no trace. A batch uses a
        savepoint; a single message (the common case) needs none, which saves two statements:
        a replayed nonce writes nothing, and a refused message id leaves only the nonce,
        deleted again."""
        now = time.time()
        self._maybe_prune_nonces(tx, now)
        savepoint = len(messages) > 1
        if savepoint:
            tx.execute("SAVEPOINT request")
        refusal: Refusal | None = None
        nonce_stored = False
        out: list[StoredMessage] = []
        if nonce is not None:
            row = tx.one(
                "INSERT INTO nonces (address, nonce, ts) VALUES (?, ?, ?) "
                "ON CONFLICT (address, nonce) DO NOTHING RETURNING 1",
                nonce,
            )
            nonce_stored = row is not None
            if row is None:
                refusal = Refusal(409, "X-Agent-Nonce", "replayed: this nonce was already used")
        group = self._group_state(tx)
        added: list[tuple[str, int]] = []
        for m in messages if refusal is None else ():
            mid = m.message_id or uuid.uuid4().hex
            step = m.step if m.step is not None else self._current_step(tx)
            received = max(now, group["last_received"])  # never decreasing in id order
            row = tx.one(
                "INSERT INTO messages (agent_name, message_id, message, timestamp, step, "
                "schema_version, levers, confidence, expected_saving_ct, data, signed, "
                "received_at, body_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (agent_name, message_id) DO NOTHING RETURNING id",
                (
                    m.agent_name,
                    mid,
                    m.message,
                    m.timestamp,
                    step,
                    m.schema_version,
                    m.levers,
                    m.confidence,
                    m.expected_saving_ct,
                    m.data,
                    int(signed),
                    received,
                    m.body_hash,
                ),
            )
            if row is not None:
                group["last_received"] = received
                added.append((m.agent_name, int(row[0])))
                out.append(StoredMessage(mid, step, signed, False))
                continue
            old = tx.one(
                "SELECT body_hash, step, signed FROM messages WHERE agent_name = ? AND message_id = ?",
                (m.agent_name, mid),
            )
            if old is None or old[0] != m.body_hash:
                refusal = Refusal(
                    409, "message_id", f"{mid!r} already stored with a different body"
                )
                break
            out.append(StoredMessage(mid, old[1], bool(old[2]), True))
        if refusal is not None:
            if savepoint:
                tx.execute("ROLLBACK TO SAVEPOINT request")
                tx.execute("RELEASE SAVEPOINT request")
            elif nonce_stored:
                assert nonce is not None
                tx.execute("DELETE FROM nonces WHERE address = ? AND nonce = ?", nonce[:2])
            return refusal
        if savepoint:
            tx.execute("RELEASE SAVEPOINT request")
        for agent, pk in added:
            group["latest"][agent] = (pk, group["last_received"])
        group["stored"] += len(added)
        return out

    def _group_state(self, tx: Tx) -> dict[str, Any]:
        """Per-transaction bookkeeping of message writes, flushed once before the commit:
        the latest message of each agent and the stored-message count."""
        state = tx.cache.get("messages")
        if state is None:
            row = tx.one("SELECT received_at FROM messages ORDER BY id DESC LIMIT 1")
            state = {
                "last_received": float(row[0]) if row else 0.0,
                "latest": {},
                "stored": 0,
            }
            tx.cache["messages"] = state
            tx.before_commit.append(self._flush_group)
        return state

    @staticmethod
    def _flush_group(tx: Tx) -> None:
        state = tx.cache["messages"]
        for agent, (pk, received) in state["latest"].items():
            tx.execute(
                "INSERT INTO agent_latest (agent_name, message_pk, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT (agent_name) DO UPDATE SET message_pk = excluded.message_pk, "
                "received_at = excluded.received_at",
                (agent, pk, received),
            )
        if state["stored"]:
            tx.execute(
                "UPDATE stats SET value = value + ? WHERE name = 'messages_stored'",
                (state["stored"],),
            )

    def _nonce_seen(self, tx: Tx, nonce: tuple[str, str, float], now: float) -> bool:
        self._maybe_prune_nonces(tx, now)
        return tx.one("SELECT 1 FROM nonces WHERE address = ? AND nonce = ?", nonce[:2]) is not None

    def _use_nonce(
        self, tx: Tx, nonce: tuple[str, str, float] | None, now: float
    ) -> Refusal | None:
        """Record a signed request's nonce; a refusal if it was used before."""
        if nonce is None:
            return None
        if self._nonce_seen(tx, nonce, now):
            return Refusal(409, "X-Agent-Nonce", "replayed: this nonce was already used")
        tx.execute("INSERT INTO nonces (address, nonce, ts) VALUES (?, ?, ?)", nonce)
        return None

    def use_nonce(self, nonce: tuple[str, str, float]) -> Refusal | None:
        """Record a signed request's nonce on its own (a request that writes nothing else)."""
        return self.db.write(lambda tx: self._use_nonce(tx, nonce, time.time()))

    def _current_step(self, tx: Tx) -> int | None:
        if "current_step" not in tx.cache:
            row = tx.one("SELECT step FROM states ORDER BY seq DESC LIMIT 1")
            tx.cache["current_step"] = int(row[0]) if row else None
        return tx.cache["current_step"]

    def _maybe_prune_nonces(self, tx: Tx, now: float) -> None:
        if now - self._last_prune < NONCE_PRUNE_EVERY_S:
            return
        self._last_prune = now
        # A nonce older than the signature window can never be accepted again anyway.
        tx.execute("DELETE FROM nonces WHERE ts < ?", (now - self.nonce_ttl_s,))

    def list_messages(
        self,
        *,
        agent: str | None = None,
        step: int | None = None,
        since: float | None = None,
        limit: int = 100,
        cursor: int | None = None,
        descending: bool = False,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of messages in id (= arrival) order and the cursor of the next page."""
        where: list[str] = []
        params: list[Any] = []
        with self.db.read() as tx:
            if since is not None:
                row = tx.one(
                    "SELECT id FROM messages WHERE received_at >= ? ORDER BY received_at, id LIMIT 1",
                    (since,),
                )
                if row is None:
                    return [], None
                where.append("id >= ?")
                params.append(int(row[0]))
            if agent is not None:
                where.append("agent_name = ?")
                params.append(agent)
            if step is not None:
                where.append("step = ?")
                params.append(step)
            if cursor is not None:
                where.append("id < ?" if descending else "id > ?")
                params.append(cursor)
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY id {'DESC' if descending else 'ASC'} LIMIT ?"
            params.append(limit + 1)
            rows = tx.all(sql, params)
        items = [message_row_to_dict(r) for r in rows[:limit]]
        nxt = items[-1]["id"] if len(rows) > limit else None
        return items, nxt

    def window_for_step(self, step: int) -> list[dict[str, Any]]:
        """The latest message of each agent for ``step`` (cost: the step's messages)."""
        with self.db.read() as tx:
            rows = tx.all(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN "
                "(SELECT MAX(id) FROM messages WHERE step = ? GROUP BY agent_name) ORDER BY id",
                (step,),
            )
        return [message_row_to_dict(r) for r in rows]

    def window_recent(self, since: float) -> list[dict[str, Any]]:
        """The latest message of each agent, if received at or after ``since`` (cost: the
        number of agents, at most ``WINDOW_AGENTS_MAX``)."""
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT m.id, m.agent_name, m.message_id, m.message, m.timestamp, m.step, "
                "m.schema_version, m.levers, m.confidence, m.expected_saving_ct, m.data, "
                "m.signed, m.received_at FROM agent_latest a JOIN messages m ON m.id = a.message_pk "
                "WHERE a.received_at >= ? ORDER BY a.received_at DESC LIMIT ?",
                (since, WINDOW_AGENTS_MAX),
            )
        return sorted((message_row_to_dict(r) for r in rows), key=lambda m: m["id"])

    def messages_stored(self) -> int:
        with self.db.read() as tx:
            row = tx.one("SELECT value FROM stats WHERE name = 'messages_stored'")
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ state
    def publish_state(
        self,
        step: int,
        observation: Mapping[str, Any],
        record: Mapping[str, Any] | None,
        kpis: Mapping[str, Any] | None,
        *,
        nonce: tuple[str, str, float] | None = None,
    ) -> int | Refusal:
        """Store a published observation (and the finished step's record, the KPIs). A step
        published again (runner restarted, or a new run) drops the records, strategy states
        and decisions of that step and later: they belonged to another trajectory (a step is
        decided once, so a stale decision would otherwise be answered to the new run)."""
        obs_text = json.dumps(observation, separators=(",", ":"))
        kpis_text = None if kpis is None else json.dumps(kpis, separators=(",", ":"))
        rec_text = None if record is None else json.dumps(record, separators=(",", ":"))

        def write(tx: Tx) -> int | Refusal:
            now = time.time()
            refusal = self._use_nonce(tx, nonce, now)
            if refusal is not None:
                return refusal
            tx.execute("DELETE FROM records WHERE step >= ?", (step,))
            tx.execute("DELETE FROM strategy_states WHERE step >= ?", (step,))
            tx.execute("DELETE FROM decisions WHERE step_key >= ?", (step,))
            if rec_text is not None and record is not None and "step" in record:
                tx.execute(
                    "INSERT INTO records (step, record, published_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (step) DO UPDATE SET record = excluded.record, "
                    "published_at = excluded.published_at",
                    (int(record["step"]), rec_text, now),
                )
            row = tx.one(
                "INSERT INTO states (step, observation, kpis, published_at) VALUES (?, ?, ?, ?) "
                "RETURNING seq",
                (step, obs_text, kpis_text, now),
            )
            seq = int(row[0])
            tx.cache["current_step"] = step
            if seq > STATES_KEPT:
                tx.execute("DELETE FROM states WHERE seq <= ?", (seq - STATES_KEPT,))
            return seq

        return self.db.write(write)

    def latest_state(self) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one(
                "SELECT seq, step, observation, published_at FROM states ORDER BY seq DESC LIMIT 1"
            )
        if row is None:
            return None
        return {
            "seq": int(row[0]),
            "step": int(row[1]),
            "observation": row[2],
            "published_at": row[3],
        }

    def observation_for(self, step: int) -> tuple[int, str] | None:
        """(seq, observation JSON) of the latest publication of ``step``, if still kept."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT seq, observation FROM states WHERE step = ? ORDER BY seq DESC LIMIT 1",
                (step,),
            )
        return None if row is None else (int(row[0]), row[1])

    def latest_kpis(self) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one("SELECT kpis FROM states ORDER BY seq DESC LIMIT 1")
        return None if row is None or row[0] is None else json.loads(row[0])

    def series(self, since_step: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT step, record FROM records WHERE step >= ? ORDER BY step LIMIT ?",
                (since_step, limit + 1),
            )
        items = [json.loads(r[1]) for r in rows[:limit]]
        nxt = int(rows[limit][0]) if len(rows) > limit else None
        return items, nxt

    # ------------------------------------------------------------------ decisions
    def strategy_state_before(self, strategy: str, step: int) -> dict[str, Any]:
        """The latest state saved by ``strategy`` for a step before ``step`` ({} if none)."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT state FROM strategy_states WHERE strategy = ? AND step < ? "
                "ORDER BY step DESC LIMIT 1",
                (strategy, step),
            )
        return {} if row is None else json.loads(row[0])

    def decision_for(self, strategy: str, step: int) -> dict[str, Any] | None:
        """The stored decision of ``strategy`` for ``step`` (as ``/decisions`` lists it)."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT id, decision, decided_at FROM decisions WHERE strategy = ? AND step_key = ?",
                (strategy, step),
            )
        return None if row is None else _decision_row(row)

    def save_decision_once(
        self,
        strategy: str,
        step: int,
        decision: Mapping[str, Any],
        state: Mapping[str, Any],
        observation_seq: int | None = None,
    ) -> dict[str, Any] | None:
        """Store the decision of ``strategy`` for ``step`` and the strategy state after it,
        unless one is stored already (another worker or host decided first): a step is decided
        once. Returns the stored decision, or None when the latest publication of ``step`` is
        no longer ``observation_seq``, the one the decision was computed from (the step was
        published again meanwhile: nothing is stored, decide again). Retention counts from the
        latest published step, never from ``step``: states of steps at or after the
        published one are never dropped."""
        text = json.dumps(decision, separators=(",", ":"))
        state_text = json.dumps(state, separators=(",", ":"))

        def write(tx: Tx) -> dict[str, Any] | None:
            row = tx.one(
                "SELECT id, decision, decided_at FROM decisions WHERE strategy = ? AND step_key = ?",
                (strategy, step),
            )
            if row is not None:
                return _decision_row(row)
            row = tx.one("SELECT seq FROM states WHERE step = ? ORDER BY seq DESC LIMIT 1", (step,))
            if (None if row is None else int(row[0])) != observation_seq:
                return None
            now = time.time()
            tx.execute(
                "INSERT INTO strategy_states (strategy, step, state) VALUES (?, ?, ?) "
                "ON CONFLICT (strategy, step) DO UPDATE SET state = excluded.state",
                (strategy, step, state_text),
            )
            published = self._current_step(tx)
            if published is not None:  # only recent states can seed a decision again
                tx.execute(
                    "DELETE FROM strategy_states WHERE strategy = ? AND step < ?",
                    (strategy, min(step, published) - STRATEGY_STATES_KEPT),
                )
            row = tx.one(
                "INSERT INTO decisions (strategy, step_key, decision, decided_at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (strategy, step, text, now),
            )
            return _decision_row((row[0], text, now))

        return self.db.write(write)

    def list_decisions(
        self, *, strategy: str | None, limit: int, cursor: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        where, params = [], []
        if strategy is not None:
            where.append("strategy = ?")
            params.append(strategy)
        if cursor is not None:
            where.append("id < ?")
            params.append(cursor)
        sql = "SELECT id, decision, decided_at FROM decisions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)
        with self.db.read() as tx:
            rows = tx.all(sql, params)
        items = [_decision_row(r) for r in rows[:limit]]
        nxt = items[-1]["id"] if len(rows) > limit else None
        return items, nxt

    # ------------------------------------------------------------------ health
    def ping(self) -> None:
        with self.db.read() as tx:
            tx.one("SELECT 1")


def _decision_row(row: Sequence[Any]) -> dict[str, Any]:
    pk, text, decided = row
    d = json.loads(text)
    d["id"] = int(pk)
    d["decided_at"] = decided
    return d


def _is_db_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    with contextlib.suppress(ImportError):
        import psycopg

        return isinstance(exc, psycopg.Error)
    return False
