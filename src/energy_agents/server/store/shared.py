"""What the store's tables share: the refusal of a write, the community of a row, JSON text."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ...client.ids import DEFAULT_COMMUNITY
from .db import Tx

__all__ = ["DEFAULT_COMMUNITY", "Refusal", "current_step", "dumps", "loads", "note_community"]


@dataclass(frozen=True)
class Refusal:
    """A write refused as a whole (nothing of it stored)."""

    status: int
    field: str
    reason: str


def note_community(tx: Tx, community: str) -> None:
    """Record that ``community`` has rows (once per transaction and community), so that
    ``GET /communities`` lists it without scanning any table."""
    seen = tx.cache.setdefault("communities", set())
    if community in seen:
        return
    seen.add(community)
    tx.execute(
        "INSERT INTO communities (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (community, time.time()),
    )


def current_step(tx: Tx, community: str) -> int | None:
    """The latest published step of ``community`` (None before any), cached per transaction."""
    key = ("current_step", community)
    if key not in tx.cache:
        row = tx.one(
            "SELECT step FROM states WHERE community = ? ORDER BY seq DESC LIMIT 1", (community,)
        )
        tx.cache[key] = int(row[0]) if row else None
    return tx.cache[key]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
