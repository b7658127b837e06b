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
    assert store.messages.add([msg("grid_trader", "a", 1)], signed=False)
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
    items, _ = store.messages.list()
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
    first = store.messages.add(
        [msg("a", "1", 0), msg("b", "2", 0)], signed=True, nonce=("agent1x", "n1", 1.0)
    )
    assert [m.duplicate for m in first] == [False, False]
    # a replayed nonce refuses the whole request, a reused id with another body too
    assert (
        store.messages.add([msg("a", "3", 0)], signed=True, nonce=("agent1x", "n1", 1.0)).field
        == "X-Agent-Nonce"
    )
    refused = store.messages.add([msg("c", "4", 0), msg("a", "1", 0, text="other")], signed=False)
    assert refused.field == "message_id"
    assert store.messages.stored() == 2
    items, _ = store.messages.list()
    assert [m["message_id"] for m in items] == ["1", "2"]
    store.messages.add([msg("a", "5", 1, "newer")], signed=False)
    assert [m["message_id"] for m in store.messages.window_for_step(0)] == ["1", "2"]
    assert [m["message_id"] for m in store.messages.window_recent(0.0)] == [
        "2",
        "5",
    ]  # latest per agent
    store.close()


def test_unreachable_postgres_is_a_store_error():
    with pytest.raises(StoreError):
        _migrate("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_writer_thread_groups_and_fails_only_the_failing_group(store_url):
    """The event loop's group commit: queued writes commit together and are delivered with
    their results; the process's other writes go through the same thread; a write that
    raises fails its own group only; stopping writes what is queued first."""
    import threading

    from energy_agents.server.store.db import Ticket

    store = Store(store_url)
    store.migrate()
    delivered: list[list[Ticket]] = []
    gate = threading.Event()
    loop = object()  # stands for the event loop's futures: such tickets are delivered

    def queued(mid: str) -> Ticket:
        return Ticket(store.messages.write([msg("grid_trader", mid, 1)], signed=False), waiter=loop)

    gate_ticket = Ticket(lambda tx: gate.wait(10), waiter=loop)  # holds the writer meanwhile
    writer = store.db.start_writer_thread(delivered.append)
    writer.submit(gate_ticket)
    tickets = [queued(f"m{i}") for i in range(5)]
    for t in tickets:
        writer.submit(t)
    threading.Timer(0.2, gate.set).start()
    # a blocking write of this process (as Flask's POST /state) waits its turn on the thread
    assert store.messages.add([msg("p2p_trader", "blocking", 1)], signed=False)[0].step == 1
    store.db.stop_writer_thread()  # drains: everything above is written before it returns
    # in order, in at most two groups: what queued while the gate's group ran is one group
    assert [t for group in delivered for t in group] == [gate_ticket, *tickets]
    assert len(delivered) <= 2 and delivered[0][0] is gate_ticket
    assert [t.result[0].message_id for t in tickets] == [f"m{i}" for i in range(5)]
    assert store.messages.stored() == 6

    def bug(tx):
        raise RuntimeError("a bug in a write function")

    delivered.clear()
    writer = store.db.start_writer_thread(delivered.append)
    failing = [queued("x"), Ticket(bug, waiter=loop)]
    for t in failing:  # queued together while the writer is idle: one group or two
        writer.submit(t)
    store.db.stop_writer_thread()
    assert [t for group in delivered for t in group] == failing
    assert isinstance(failing[1].error, RuntimeError)
    if len(delivered) == 1:  # same group: rolled back with the bug, nothing stored
        assert isinstance(failing[0].error, RuntimeError)
        assert store.messages.stored() == 6
    else:
        assert failing[0].error is None
        assert store.messages.stored() == 7
    with pytest.raises(StoreError, match="stopping"):
        writer.submit(Ticket(bug))
    assert store.messages.add([msg("a", "after", 2)], signed=False)  # a new writer thread
    store.close()


def test_a_decision_of_a_step_published_again_meanwhile_is_not_stored(store_url):
    """Two servers: one computes step 0's decision from the first publication while a
    restarted runner publishes step 0 again through the other. The stale decision is not
    stored (the caller decides again from the new observation)."""
    store = Store(store_url)
    store.migrate()
    first = store.states.publish(0, {"step": 0, "run": 1}, None, None)
    assert isinstance(first, int)
    second = store.states.publish(0, {"step": 0, "run": 2}, None, None)
    assert isinstance(second, int)
    assert store.decisions.save_once("seed", 0, {"run": 1}, {}, first) is None
    assert store.decisions.decision_for("seed", 0) is None
    saved = store.decisions.save_once("seed", 0, {"run": 2}, {}, second)
    assert saved is not None and saved["run"] == 2
    again = store.decisions.save_once("seed", 0, {"run": 3}, {}, second)  # decided once
    assert again == saved
    store.close()


def test_a_version_1_store_migrates_into_the_default_community(store_url, monkeypatch):
    """Rows stored before communities existed keep their ids and belong to "default"; their
    keys are unique per community afterwards."""
    monkeypatch.setattr("energy_agents.server.store.store.MIGRATIONS", mig.MIGRATIONS[:1])
    monkeypatch.setattr("energy_agents.server.store.store.LATEST_VERSION", 1)
    store = Store(store_url)
    assert store.migrate() == 1
    store.db.write(
        lambda tx: [
            tx.execute(
                "INSERT INTO messages (agent_name, message_id, message, timestamp, step, signed, "
                "received_at, body_hash) VALUES ('grid_trader', 'm1', 'deficit', 't', 3, 0, 5.0, 'h')"
            ),
            tx.execute(
                "INSERT INTO agent_latest (agent_name, message_pk, received_at) VALUES "
                "('grid_trader', 1, 5.0)"
            ),
            tx.execute(
                "INSERT INTO states (step, observation, published_at) VALUES (3, '{}', 4.0)"
            ),
            tx.execute(
                "INSERT INTO decisions (strategy, step_key, decision, decided_at) "
                "VALUES ('seed', 3, '{\"a\": 1}', 6.0)"
            ),
        ]
    )
    store.close()
    monkeypatch.undo()
    store = Store(store_url)
    assert store.migrate() == mig.LATEST_VERSION == 2
    assert store.communities() == ["default"]
    items, _ = store.messages.list()
    assert [(m["id"], m["message_id"], m["step"]) for m in items] == [(1, "m1", 3)]
    assert [m["message_id"] for m in store.messages.window_recent(0.0)] == ["m1"]
    assert store.states.latest()["step"] == 3
    assert store.decisions.decision_for("seed", 3)["a"] == 1
    # the same agent and message id in another community is another message
    again = store.messages.add([msg("grid_trader", "m1", 3)], signed=False, community="north")
    assert [m.duplicate for m in again] == [False]
    assert again[0].step == 3
    new = store.messages.add([msg("grid_trader", "m2", 4)], signed=False)
    assert store.messages.list()[0][-1]["id"] > 1 and not new[0].duplicate
    assert store.communities() == ["default", "north"]
    store.close()


def test_communities_are_apart(store_url):
    """Every read and write is of one community: the same step, agent, message id and
    strategy in two communities never meet."""
    store = Store(store_url)
    store.migrate()
    for name, run in (("default", 1), ("north", 2)):
        seq = store.states.publish(
            0, {"step": 0, "run": run}, {"step": 0, "r": run}, {"k": run}, community=name
        )
        store.messages.add(
            [msg("grid_trader", "same", 0, f"text {run}")], signed=False, community=name
        )
        assert store.decisions.save_once("seed", 0, {"run": run}, {"s": run}, seq, community=name)
    store.states.publish(1, {"step": 1, "run": 2}, None, {"k": 22}, community="north")
    assert store.states.latest()["step"] == 0 and store.states.latest("north")["step"] == 1
    assert store.states.latest_kpis() == {"k": 1} and store.states.latest_kpis("north") == {"k": 22}
    assert store.states.series(0, 10) == ([{"step": 0, "r": 1}], None)
    assert [m["message"] for m in store.messages.window_for_step(0)] == ["text 1"]
    assert [m["message"] for m in store.messages.window_for_step(0, "north")] == ["text 2"]
    assert [m["message"] for m in store.messages.window_recent(0.0, "north")] == ["text 2"]
    assert [d["run"] for d in store.decisions.list(strategy=None, limit=10, cursor=None)[0]] == [1]
    # publishing step 0 again in "north" drops north's later decisions, not default's
    store.states.publish(0, {"step": 0, "run": 3}, None, None, community="north")
    assert store.decisions.decision_for("seed", 0, "north") is None
    assert store.decisions.decision_for("seed", 0)["run"] == 1
    assert store.decisions.state_before("seed", 1) == {"s": 1}
    assert store.states.latest("south") is None and store.messages.list(community="south")[0] == []
    assert store.communities() == ["default", "north"]
    store.close()
