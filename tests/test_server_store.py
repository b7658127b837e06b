"""The store: migrations in place, concurrent starts, a newer schema refused, bounded windows."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from energy_agents.server.store import NewMessage, Store, StoreError
from energy_agents.server.store import migrations as mig
from server_fixtures import store_url_fixture  # noqa: F401 - the store_url fixture


def _migrate(url: str) -> int:
    store = Store(url)
    try:
        return store.migrate()
    finally:
        store.close()


def msg(agent: str, mid: str | None, step: int | None = None, text: str = "m") -> NewMessage:
    return NewMessage(
        agent, text, "2025-03-22 19:39:10", mid, step, body_hash=f"{agent}{mid}{text}"
    )


def test_concurrent_first_starts(store_url):
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        versions = pool.map(_migrate, [store_url] * 8)
    assert versions == [mig.LATEST_VERSION] * 8
    store = Store(store_url)
    with store.db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM schema_version")[0] == mig.LATEST_VERSION
        assert tx.one("SELECT value FROM stats WHERE name = 'messages_stored'")[0] == 0
    store.close()


def test_upgrade_in_place_keeps_data(store_url, monkeypatch):
    store = Store(store_url)
    store.migrate()
    assert store.add_messages([msg("grid_trader", "a", 1)], signed=False)
    store.close()
    extra = (
        mig.LATEST_VERSION + 1,
        "test: a new column",
        ["ALTER TABLE messages ADD COLUMN note TEXT", "UPDATE messages SET note = 'kept'"],
    )
    monkeypatch.setattr(mig, "MIGRATIONS", [*mig.MIGRATIONS, extra])
    monkeypatch.setattr("energy_agents.server.store.store.MIGRATIONS", [*mig.MIGRATIONS])
    monkeypatch.setattr("energy_agents.server.store.store.LATEST_VERSION", extra[0])
    store = Store(store_url)
    assert store.migrate() == extra[0]
    with store.db.read() as tx:
        assert tx.one("SELECT message_id, note FROM messages")[0:2] == ("a", "kept")
    assert store.schema_version() == extra[0]
    items, _ = store.list_messages()
    assert [m["message_id"] for m in items] == ["a"]
    store.close()


def test_newer_schema_is_refused(store_url):
    store = Store(store_url)
    store.migrate()
    store.db.write(lambda tx: tx.execute("INSERT INTO schema_version (version) VALUES (?)", (99,)))
    store.close()
    with pytest.raises(StoreError, match="newer than this server"):
        _migrate(store_url)


def test_atomic_requests_and_windows(store_url):
    store = Store(store_url)
    store.migrate()
    first = store.add_messages(
        [msg("a", "1", 0), msg("b", "2", 0)], signed=True, nonce=("agent1x", "n1", 1.0)
    )
    assert [m.duplicate for m in first] == [False, False]
    # a replayed nonce refuses the whole request, a reused id with another body too
    assert (
        store.add_messages([msg("a", "3", 0)], signed=True, nonce=("agent1x", "n1", 1.0)).field
        == "X-Agent-Nonce"
    )
    refused = store.add_messages([msg("c", "4", 0), msg("a", "1", 0, text="other")], signed=False)
    assert refused.field == "message_id"
    assert store.messages_stored() == 2
    items, _ = store.list_messages()
    assert [m["message_id"] for m in items] == ["1", "2"]
    store.add_messages([msg("a", "5", 1, "newer")], signed=False)
    assert [m["message_id"] for m in store.window_for_step(0)] == ["1", "2"]
    assert [m["message_id"] for m in store.window_recent(0.0)] == ["2", "5"]  # latest per agent
    store.close()


def test_unreachable_postgres_is_a_store_error():
    with pytest.raises(StoreError):
        _migrate("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
