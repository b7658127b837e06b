"""The ``messages`` table (and ``agent_latest``, the latest message of each agent): the agents'
recommendations and the seed's plain messages, per community."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .db import Database, Tx
from .nonces import REPLAYED, Nonces
from .shared import DEFAULT_COMMUNITY, Refusal, current_step, loads, note_community

WINDOW_AGENTS_MAX = 100

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


def message_row_to_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A stored message as ``GET /messages`` shows it: the seed's three fields first."""
    (pk, agent, mid, message, ts, step, version, levers, conf, saving, data, signed, rcv) = row
    out: dict[str, Any] = {"agent_name": agent, "message": message, "timestamp": ts}
    out["message_id"] = mid
    if step is not None:
        out["step"] = int(step)
    if version is not None:
        out["schema_version"] = int(version)
        out["levers"] = loads(levers) or {}
        out["confidence"] = conf
        out["expected_saving_ct"] = saving
        out["data"] = loads(data) or {}
    out["signed"] = bool(signed)
    out["received_at"] = rcv
    out["id"] = int(pk)
    return out


class Messages:
    def __init__(self, db: Database, nonces: Nonces) -> None:
        self.db = db
        self.nonces = nonces

    def add(
        self,
        messages: Sequence[NewMessage],
        *,
        signed: bool,
        nonce: tuple[str, str, float] | None = None,
        community: str = DEFAULT_COMMUNITY,
    ) -> list[StoredMessage] | Refusal:
        """Store a request's messages atomically: all of them (duplicates of an earlier post
        with the same ``message_id`` are answered as stored, not stored again), or none."""
        return self.db.write(self.write(messages, signed=signed, nonce=nonce, community=community))

    def write(
        self,
        messages: Sequence[NewMessage],
        *,
        signed: bool,
        nonce: tuple[str, str, float] | None = None,
        community: str = DEFAULT_COMMUNITY,
    ) -> Callable[[Tx], list[StoredMessage] | Refusal]:
        """:meth:`add`'s write, as a function of the open transaction (for a caller that
        queues it on a :class:`~.db.WriterThread`)."""

        def write(tx: Tx) -> list[StoredMessage] | Refusal:
            return self._add(tx, messages, signed, nonce, community)

        return write

    def _add(
        self,
        tx: Tx,
        messages: Sequence[NewMessage],
        signed: bool,
        nonce: tuple[str, str, float] | None,
        community: str,
    ) -> list[StoredMessage] | Refusal:
        """One request's write, inside the group's transaction, all or nothing: a replayed
        nonce or a reused message id with another body leaves no trace. A batch uses a
        savepoint; a single message (the common case) needs none, which saves two statements:
        a replayed nonce writes nothing, and a refused message id leaves only the nonce,
        deleted again."""
        now = time.time()
        self.nonces.maybe_prune(tx, now)
        savepoint = len(messages) > 1
        if savepoint:
            tx.execute("SAVEPOINT request")
        refusal: Refusal | None = None
        nonce_stored = False
        out: list[StoredMessage] = []
        if nonce is not None:
            nonce_stored = self.nonces.insert(tx, nonce)
            if not nonce_stored:
                refusal = REPLAYED
        group = self._group_state(tx)
        added: list[tuple[str, int]] = []
        for m in messages if refusal is None else ():
            mid = m.message_id or uuid.uuid4().hex
            step = m.step if m.step is not None else current_step(tx, community)
            received = max(now, group["last_received"])  # never decreasing in id order
            row = tx.one(
                "INSERT INTO messages (community, agent_name, message_id, message, timestamp, "
                "step, schema_version, levers, confidence, expected_saving_ct, data, signed, "
                "received_at, body_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (community, agent_name, message_id) DO NOTHING RETURNING id",
                (
                    community,
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
                "SELECT body_hash, step, signed FROM messages "
                "WHERE community = ? AND agent_name = ? AND message_id = ?",
                (community, m.agent_name, mid),
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
                self.nonces.delete(tx, nonce)
            return refusal
        if savepoint:
            tx.execute("RELEASE SAVEPOINT request")
        if added:
            note_community(tx, community)
        for agent, pk in added:
            group["latest"][(community, agent)] = (pk, group["last_received"])
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
            tx.before_commit.append(_flush_group)
        return state

    def list(
        self,
        *,
        agent: str | None = None,
        step: int | None = None,
        since: float | None = None,
        limit: int = 100,
        cursor: int | None = None,
        descending: bool = False,
        community: str = DEFAULT_COMMUNITY,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of messages in id (= arrival) order and the cursor of the next page."""
        where: list[str] = ["community = ?"]
        params: list[Any] = [community]
        with self.db.read() as tx:
            if since is not None:
                row = tx.one(
                    "SELECT id FROM messages WHERE community = ? AND received_at >= ? "
                    "ORDER BY received_at, id LIMIT 1",
                    (community, since),
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
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE " + " AND ".join(where)
            sql += f" ORDER BY id {'DESC' if descending else 'ASC'} LIMIT ?"
            params.append(limit + 1)
            rows = tx.all(sql, params)
        items = [message_row_to_dict(r) for r in rows[:limit]]
        nxt = items[-1]["id"] if len(rows) > limit else None
        return items, nxt

    def window_for_step(
        self, step: int, community: str = DEFAULT_COMMUNITY
    ) -> list[dict[str, Any]]:
        """The latest message of each agent for ``step`` (cost: the step's messages)."""
        with self.db.read() as tx:
            rows = tx.all(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN "
                "(SELECT MAX(id) FROM messages WHERE community = ? AND step = ? "
                "GROUP BY agent_name) ORDER BY id",
                (community, step),
            )
        return [message_row_to_dict(r) for r in rows]

    def window_recent(
        self, since: float, community: str = DEFAULT_COMMUNITY
    ) -> list[dict[str, Any]]:
        """The latest message of each agent, if received at or after ``since`` (cost: the
        number of agents, at most ``WINDOW_AGENTS_MAX``)."""
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT m.id, m.agent_name, m.message_id, m.message, m.timestamp, m.step, "
                "m.schema_version, m.levers, m.confidence, m.expected_saving_ct, m.data, "
                "m.signed, m.received_at FROM agent_latest a JOIN messages m ON m.id = a.message_pk "
                "WHERE a.community = ? AND a.received_at >= ? ORDER BY a.received_at DESC LIMIT ?",
                (community, since, WINDOW_AGENTS_MAX),
            )
        return sorted((message_row_to_dict(r) for r in rows), key=lambda m: m["id"])

    def stored(self) -> int:
        """Messages stored on this server, all communities together."""
        with self.db.read() as tx:
            row = tx.one("SELECT value FROM stats WHERE name = 'messages_stored'")
        return int(row[0]) if row else 0


def _flush_group(tx: Tx) -> None:
    state = tx.cache["messages"]
    for (community, agent), (pk, received) in state["latest"].items():
        tx.execute(
            "INSERT INTO agent_latest (community, agent_name, message_pk, received_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (community, agent_name) DO UPDATE SET "
            "message_pk = excluded.message_pk, received_at = excluded.received_at",
            (community, agent, pk, received),
        )
    if state["stored"]:
        tx.execute(
            "UPDATE stats SET value = value + ? WHERE name = 'messages_stored'",
            (state["stored"],),
        )
