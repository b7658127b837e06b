"""The ``decisions`` table (one per strategy, step and community) and ``strategy_states`` (a
strategy's state after each decided step, so that no state lives in a worker's memory)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .db import Database, Tx
from .shared import DEFAULT_COMMUNITY, current_step, dumps, note_community

STRATEGY_STATES_KEPT = 1000  # steps of strategy state kept behind the latest published step


class Decisions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def state_before(
        self, strategy: str, step: int, community: str = DEFAULT_COMMUNITY
    ) -> dict[str, Any]:
        """The latest state saved by ``strategy`` for a step before ``step`` ({} if none)."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT state FROM strategy_states WHERE community = ? AND strategy = ? "
                "AND step < ? ORDER BY step DESC LIMIT 1",
                (community, strategy, step),
            )
        return {} if row is None else json.loads(row[0])

    def decision_for(
        self, strategy: str, step: int, community: str = DEFAULT_COMMUNITY
    ) -> dict[str, Any] | None:
        """The stored decision of ``strategy`` for ``step`` (as ``/decisions`` lists it)."""
        with self.db.read() as tx:
            return _stored(tx, community, strategy, step)

    def save_once(
        self,
        strategy: str,
        step: int,
        decision: Mapping[str, Any],
        state: Mapping[str, Any],
        observation_seq: int | None = None,
        community: str = DEFAULT_COMMUNITY,
    ) -> dict[str, Any] | None:
        """Store the decision of ``strategy`` for ``step`` and the strategy state after it,
        unless one is stored already (another worker or host decided first): a step is decided
        once. Returns the stored decision, or None when the latest publication of ``step`` is
        no longer ``observation_seq``, the one the decision was computed from (the step was
        published again meanwhile: nothing is stored, decide again). Retention counts from the
        latest published step, never from ``step``: states of steps at or after the
        published one are never dropped."""
        text = dumps(decision)
        state_text = dumps(state)

        def write(tx: Tx) -> dict[str, Any] | None:
            stored = _stored(tx, community, strategy, step)
            if stored is not None:
                return stored
            row = tx.one(
                "SELECT seq FROM states WHERE community = ? AND step = ? ORDER BY seq DESC LIMIT 1",
                (community, step),
            )
            if (None if row is None else int(row[0])) != observation_seq:
                return None
            now = time.time()
            note_community(tx, community)
            tx.execute(
                "INSERT INTO strategy_states (community, strategy, step, state) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (community, strategy, step) "
                "DO UPDATE SET state = excluded.state",
                (community, strategy, step, state_text),
            )
            published = current_step(tx, community)
            if published is not None:  # only recent states can seed a decision again
                tx.execute(
                    "DELETE FROM strategy_states WHERE community = ? AND strategy = ? AND step < ?",
                    (community, strategy, min(step, published) - STRATEGY_STATES_KEPT),
                )
            row = tx.one(
                "INSERT INTO decisions (community, strategy, step_key, decision, decided_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (community, strategy, step, text, now),
            )
            return _decision_row((row[0], text, now))

        return self.db.write(write)

    def list(
        self,
        *,
        strategy: str | None,
        limit: int,
        cursor: int | None,
        community: str = DEFAULT_COMMUNITY,
    ) -> tuple[list[dict[str, Any]], int | None]:
        where: list[str] = ["community = ?"]
        params: list[Any] = [community]
        if strategy is not None:
            where.append("strategy = ?")
            params.append(strategy)
        if cursor is not None:
            where.append("id < ?")
            params.append(cursor)
        sql = "SELECT id, decision, decided_at FROM decisions WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)
        with self.db.read() as tx:
            rows = tx.all(sql, params)
        items = [_decision_row(r) for r in rows[:limit]]
        nxt = items[-1]["id"] if len(rows) > limit else None
        return items, nxt


def _stored(tx: Tx, community: str, strategy: str, step: int) -> dict[str, Any] | None:
    row = tx.one(
        "SELECT id, decision, decided_at FROM decisions "
        "WHERE community = ? AND strategy = ? AND step_key = ?",
        (community, strategy, step),
    )
    return None if row is None else _decision_row(row)


def _decision_row(row: Sequence[Any]) -> dict[str, Any]:
    pk, text, decided = row
    d = json.loads(text)
    d["id"] = int(pk)
    d["decided_at"] = decided
    return d
