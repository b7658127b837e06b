"""The server's store: every SQL statement of the server is in this package, one module per
table (``messages``, ``states``, ``decisions``, ``nonces``); :class:`Store` opens the database,
migrates it and holds the tables.

Every row belongs to a community (``DEFAULT_COMMUNITY`` unless a request names one), and
every query is of one community. Queries are bounded: each uses an index and a LIMIT, so their
cost does not grow with the number of stored messages (see docs/server.md for the list).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from .db import MIGRATE_LOCK_KEY, Database, StoreError, Tx
from .decisions import Decisions
from .messages import Messages
from .migrations import LATEST_VERSION, MIGRATIONS, statements
from .nonces import Nonces
from .shared import Refusal
from .states import States

log = logging.getLogger("energy_agents.server.store")

COMMUNITIES_MAX = 1000  # listed by GET /communities


class Store:
    """The database and its tables: ``store.messages``, ``store.states``,
    ``store.decisions``."""

    def __init__(
        self, url: str, *, nonce_ttl_s: float = 180.0, sqlite_synchronous: str = "full"
    ) -> None:
        self.db = Database(url, sqlite_synchronous=sqlite_synchronous)
        self.dialect = self.db.dialect
        self.nonces = Nonces(nonce_ttl_s)
        self.messages = Messages(self.db, self.nonces)
        self.states = States(self.db, self.nonces)
        self.decisions = Decisions(self.db)

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

    # ------------------------------------------------------------------ communities, health
    def use_nonce(self, nonce: tuple[str, str, float]) -> Refusal | None:
        """Record a signed request's nonce on its own (a request that writes nothing else)."""
        return self.db.write(lambda tx: self.nonces.use(tx, nonce))

    def communities(self) -> list[str]:
        """The communities with rows, in name order."""
        with self.db.read() as tx:
            rows = tx.all("SELECT name FROM communities ORDER BY name LIMIT ?", (COMMUNITIES_MAX,))
        return [str(r[0]) for r in rows]

    def ping(self) -> None:
        with self.db.read() as tx:
            tx.one("SELECT 1")


def _is_db_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    with contextlib.suppress(ImportError):
        import psycopg

        return isinstance(exc, psycopg.Error)
    return False
