"""Signed requests' nonces: each may be used once within the signature window. Nonces belong
to a signer, not to a community."""

from __future__ import annotations

import time

from .db import Tx
from .shared import Refusal

NONCE_PRUNE_EVERY_S = 10.0
REPLAYED = Refusal(409, "X-Agent-Nonce", "replayed: this nonce was already used")


class Nonces:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._last_prune = 0.0

    def maybe_prune(self, tx: Tx, now: float) -> None:
        if now - self._last_prune < NONCE_PRUNE_EVERY_S:
            return
        self._last_prune = now
        # A nonce older than the signature window can never be accepted again anyway.
        tx.execute("DELETE FROM nonces WHERE ts < ?", (now - self.ttl_s,))

    def insert(self, tx: Tx, nonce: tuple[str, str, float]) -> bool:
        """Store ``nonce``; False if it was used before (nothing stored)."""
        row = tx.one(
            "INSERT INTO nonces (address, nonce, ts) VALUES (?, ?, ?) "
            "ON CONFLICT (address, nonce) DO NOTHING RETURNING 1",
            nonce,
        )
        return row is not None

    def delete(self, tx: Tx, nonce: tuple[str, str, float]) -> None:
        tx.execute("DELETE FROM nonces WHERE address = ? AND nonce = ?", nonce[:2])

    def use(
        self, tx: Tx, nonce: tuple[str, str, float] | None, now: float | None = None
    ) -> Refusal | None:
        """Record a signed request's nonce; a refusal if it was used before."""
        if nonce is None:
            return None
        self.maybe_prune(tx, time.time() if now is None else now)
        return None if self.insert(tx, nonce) else REPLAYED
