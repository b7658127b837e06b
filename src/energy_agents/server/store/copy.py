"""Copy a whole store from one database to another (SQLite -> PostgreSQL, or any two URLs).

Generic over the schema: both stores are migrated to the latest version, the tables come from
the source's catalog (``schema_version`` excepted), each table's columns from its rows' cursor
description. Rows are read in primary-key order in batches (keyset pages: bounded memory) from
one read transaction on the source (a consistent snapshot, also of a live SQLite store in WAL
mode) and written in one transaction on the target, holding its write lock: an interrupted
copy leaves the target as it was, and the copy is simply run again. Ids are kept; PostgreSQL
identity sequences are moved past the copied ids. The row counts are verified before commit.

The target must be empty: no rows but those a fresh migration writes (they are replaced).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .db import StoreError, Tx
from .store import Store

BATCH_ROWS = 1000
SKIP = {"schema_version"}
URL_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def copy_store(
    source_url: str,
    target_url: str,
    *,
    batch: int = BATCH_ROWS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Copy every row of ``source_url``'s store into ``target_url``'s; the copied row count
    per table. Raises :class:`StoreError` (with passwords hidden) when it refuses or fails."""
    for name, url in (("source", source_url), ("target", target_url)):
        if not url.startswith(URL_SCHEMES):
            raise StoreError(
                f"{name} URL {_hide_password(url)!r}: must start with sqlite:///, "
                "postgresql:// or postgres://"
            )
    path = source_url[len("sqlite:///") :]
    if source_url.startswith("sqlite:///") and not Path(path).is_file():
        raise StoreError(f"source {source_url}: no such file")
    src, dst = Store(source_url), Store(target_url)
    try:
        versions = (src.migrate(), dst.migrate())
        if versions[0] != versions[1]:
            raise StoreError(
                f"schema versions differ: source {src._safe_url()} is at {versions[0]}, "
                f"target {dst._safe_url()} at {versions[1]}"
            )
        seeded = _fresh_rows()
        with _snapshot(src) as stx, _target_tx(dst) as ttx:
            tables = _tables(stx)
            missing = sorted(set(tables) - set(_tables(ttx)))
            if missing:
                raise StoreError(f"the target has no table {', '.join(missing)}")
            for table in tables:
                # a few rows tell a fresh store from a used one: never read a whole table
                rows = {tuple(r) for r in ttx.all(f"SELECT * FROM {table} LIMIT 100")}
                if rows and rows != seeded.get(table, set()):
                    raise StoreError(
                        f"the target {dst._safe_url()} already holds rows (table {table}): "
                        "copy into an empty store"
                    )
            counts: dict[str, int] = {}
            for table in tables:
                ttx.execute(f"DELETE FROM {table}")  # only rows a fresh migration wrote
                counts[table] = _copy_table(stx, ttx, table, batch, progress)
            for table, n in counts.items():
                got = int(ttx.one(f"SELECT COUNT(*) FROM {table}")[0])
                want = int(stx.one(f"SELECT COUNT(*) FROM {table}")[0])
                if not got == want == n:
                    raise StoreError(f"table {table}: {want} rows in the source, {got} copied")
        return counts
    except Exception as exc:
        if isinstance(exc, StoreError) or not _db_error(exc):
            raise
        raise StoreError(f"copy failed: {exc}") from exc
    finally:
        src.close()
        dst.close()


def _hide_password(url: str) -> str:
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _fresh_rows() -> dict[str, set[tuple[Any, ...]]]:
    """The rows a fresh migration writes (e.g. counters at 0), per table."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Store(str(Path(tmp) / "fresh.db"))
        try:
            scratch.migrate()
            with scratch.db.read() as tx:
                return {t: {tuple(r) for r in tx.all(f"SELECT * FROM {t}")} for t in _tables(tx)}
        finally:
            scratch.close()


@contextlib.contextmanager
def _snapshot(store: Store) -> Iterator[Tx]:
    """One read transaction: every table is read as of its start."""
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.db.path, isolation_level=None, timeout=10.0)
        try:
            conn.execute("BEGIN")  # deferred: the first SELECT takes the WAL snapshot
            yield Tx(conn, "sqlite")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(store.db.url, connect_timeout=10) as pconn:
        pconn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield Tx(pconn, "postgresql")
        pconn.rollback()


@contextlib.contextmanager
def _target_tx(store: Store) -> Iterator[Tx]:
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.db.path, isolation_level=None, timeout=10.0)
    else:
        import psycopg

        conn = psycopg.connect(store.db.url, autocommit=True, connect_timeout=10)
    try:
        with store.db.transaction(conn) as tx:
            yield tx
    finally:
        conn.close()


def _tables(tx: Tx) -> list[str]:
    if tx.dialect == "sqlite":
        rows = tx.all(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    else:
        rows = tx.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    return [str(r[0]) for r in rows if str(r[0]) not in SKIP]


def _key(tx: Tx, table: str) -> list[str]:
    """The primary key's columns, in key order."""
    if tx.dialect == "sqlite":
        info = tx.all(f"PRAGMA table_info({table})")
        key = [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
        return key or [str(r[1]) for r in info]
    rows = tx.all(
        "SELECT k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
        "AND k.table_schema = c.table_schema AND k.table_name = c.table_name "
        "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() "
        "AND c.table_name = ? ORDER BY k.ordinal_position",
        (table,),
    )
    if rows:
        return [str(r[0]) for r in rows]
    cols = tx.all(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [str(r[0]) for r in cols]


def _identity_columns(tx: Tx, table: str) -> list[str]:
    if tx.dialect != "postgresql":
        return []
    rows = tx.all(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ? AND is_identity = 'YES'",
        (table,),
    )
    return [str(r[0]) for r in rows]


def _copy_table(
    stx: Tx,
    ttx: Tx,
    table: str,
    batch: int,
    progress: Callable[[str, int], None] | None,
) -> int:
    key = _key(stx, table)
    order = ", ".join(key)
    identity = _identity_columns(ttx, table)
    overriding = " OVERRIDING SYSTEM VALUE" if identity else ""
    after: tuple[Any, ...] | None = None
    copied = 0
    while True:
        where = "" if after is None else f" WHERE ({order}) > ({', '.join('?' * len(key))})"
        cur = stx.execute(
            f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT ?",
            (*(after or ()), batch),
        )
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
        if not rows:
            break
        insert = (
            f"INSERT INTO {table} ({', '.join(columns)}){overriding} "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        if ttx.dialect == "postgresql":
            with ttx.conn.cursor() as c:
                c.executemany(insert.replace("?", "%s"), [tuple(r) for r in rows])
        else:
            ttx.conn.executemany(insert, [tuple(r) for r in rows])
        copied += len(rows)
        if progress is not None:
            progress(table, copied)
        positions = [columns.index(k) for k in key]
        after = tuple(rows[-1][i] for i in positions)
        if len(rows) < batch:
            break
    for col in identity:  # new rows continue after the copied ids
        ttx.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({col}), 0) + 1, false) "
            f"FROM {table}",
            (table, col),
        )
    return copied


def _db_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    with contextlib.suppress(ImportError):
        import psycopg

        return isinstance(exc, psycopg.Error)
    return False
