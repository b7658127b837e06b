"""The ``states`` table (published observations and KPIs) and ``records`` (each finished
step's record, for the dashboard's series), per community."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .db import Database, Tx
from .nonces import Nonces
from .shared import DEFAULT_COMMUNITY, Refusal, dumps, note_community

STATES_KEPT = 2000  # published observations kept per community (the latest); records all kept


class States:
    def __init__(self, db: Database, nonces: Nonces) -> None:
        self.db = db
        self.nonces = nonces

    def publish(
        self,
        step: int,
        observation: Mapping[str, Any],
        record: Mapping[str, Any] | None,
        kpis: Mapping[str, Any] | None,
        *,
        nonce: tuple[str, str, float] | None = None,
        community: str = DEFAULT_COMMUNITY,
    ) -> int | Refusal:
        """Store a published observation (and the finished step's record, the KPIs). A step
        published again (runner restarted, or a new run) drops the community's records,
        strategy states and decisions of that step and later: they belonged to another
        trajectory (a step is decided once, so a stale decision would otherwise be answered
        to the new run)."""
        obs_text = dumps(observation)
        kpis_text = None if kpis is None else dumps(kpis)
        rec_text = None if record is None else dumps(record)

        def write(tx: Tx) -> int | Refusal:
            now = time.time()
            refusal = self.nonces.use(tx, nonce, now)
            if refusal is not None:
                return refusal
            note_community(tx, community)
            for sql in (
                "DELETE FROM records WHERE community = ? AND step >= ?",
                "DELETE FROM strategy_states WHERE community = ? AND step >= ?",
                "DELETE FROM decisions WHERE community = ? AND step_key >= ?",
            ):
                tx.execute(sql, (community, step))
            if rec_text is not None and record is not None and "step" in record:
                tx.execute(
                    "INSERT INTO records (community, step, record, published_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (community, step) DO UPDATE SET "
                    "record = excluded.record, published_at = excluded.published_at",
                    (community, int(record["step"]), rec_text, now),
                )
            row = tx.one(
                "INSERT INTO states (community, step, observation, kpis, published_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING seq",
                (community, step, obs_text, kpis_text, now),
            )
            seq = int(row[0])
            tx.cache[("current_step", community)] = step
            if seq > STATES_KEPT:  # sequence numbers are shared: find the community's oldest kept
                old = tx.one(
                    "SELECT seq FROM states WHERE community = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                    (community, STATES_KEPT),
                )
                if old is not None:
                    tx.execute(
                        "DELETE FROM states WHERE community = ? AND seq <= ?",
                        (community, int(old[0])),
                    )
            return seq

        return self.db.write(write)

    def latest(self, community: str = DEFAULT_COMMUNITY) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one(
                "SELECT seq, step, observation, published_at FROM states WHERE community = ? "
                "ORDER BY seq DESC LIMIT 1",
                (community,),
            )
        if row is None:
            return None
        return {
            "seq": int(row[0]),
            "step": int(row[1]),
            "observation": row[2],
            "published_at": row[3],
        }

    def observation_for(
        self, step: int, community: str = DEFAULT_COMMUNITY
    ) -> tuple[int, str] | None:
        """(seq, observation JSON) of the latest publication of ``step``, if still kept."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT seq, observation FROM states WHERE community = ? AND step = ? "
                "ORDER BY seq DESC LIMIT 1",
                (community, step),
            )
        return None if row is None else (int(row[0]), row[1])

    def latest_kpis(self, community: str = DEFAULT_COMMUNITY) -> dict[str, Any] | None:
        with self.db.read() as tx:
            row = tx.one(
                "SELECT kpis FROM states WHERE community = ? ORDER BY seq DESC LIMIT 1",
                (community,),
            )
        return None if row is None or row[0] is None else json.loads(row[0])

    def series(
        self, since_step: int, limit: int, community: str = DEFAULT_COMMUNITY
    ) -> tuple[list[dict[str, Any]], int | None]:
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT step, record FROM records WHERE community = ? AND step >= ? "
                "ORDER BY step LIMIT ?",
                (community, since_step, limit + 1),
            )
        items = [json.loads(r[1]) for r in rows[:limit]]
        nxt = int(rows[limit][0]) if len(rows) > limit else None
        return items, nxt
