"""energy-agents store-copy: a SQLite store filled through the Store API, copied to a real
PostgreSQL schema (and back), answers the same reads; refusals exit 1 with one line."""

from __future__ import annotations

import sqlite3

import pytest

from energy_agents.cli import main
from energy_agents.server.store import NewMessage, Store
from energy_agents.server.store.copy import copy_store
from server_fixtures import postgres_schema

pytestmark = pytest.mark.postgres


def msg(agent: str, mid: str, step: int, text: str = "m") -> NewMessage:
    return NewMessage(
        agent, text, "2025-03-22 19:39:10", mid, step, confidence=0.5, body_hash=f"{agent}{mid}"
    )


def fill(url: str) -> None:
    store = Store(url)
    store.migrate()
    try:
        for community in ("default", "north"):
            for step in range(30):
                rec = {"step": step - 1, "cost": step * 1.5} if step else None
                kpis = {"cost_ct": step * 2.0} if step else None
                seq = store.states.publish(step, {"step": step}, rec, kpis, community=community)
                batch = [msg(a, f"{community}-{step}-{a}", step) for a in ("pv", "tariff")]
                store.messages.add(batch, signed=step % 2 == 0, community=community)
                assert store.decisions.save_once(
                    "seed", step, {"charge": step}, {"n": step}, seq, community=community
                )
    finally:
        store.close()


def answers(url: str) -> dict:
    store = Store(url)
    try:
        out = {}
        for c in ("default", "north"):
            out[c] = (
                store.messages.list(limit=1000, community=c),
                store.messages.list(agent="pv", step=7, community=c),
                store.states.latest(c),
                store.states.latest_kpis(c),
                store.states.series(0, 1000, c),
                store.decisions.list(strategy="seed", limit=1000, cursor=None, community=c),
                store.decisions.state_before("seed", 20, c),
                store.decisions.decision_for("seed", 12, c),
            )
        out["communities"] = store.communities()
        out["stored"] = store.messages.stored()
        return out
    finally:
        store.close()


def test_sqlite_to_postgres_and_back(tmp_path, capsys):
    src = f"sqlite:///{tmp_path / 'server.db'}"
    fill(src)
    want = answers(src)
    with postgres_schema() as pg:
        assert main(["store-copy", "--from", src, "--to", pg, "--batch", "7"]) == 0
        out = capsys.readouterr().out
        assert "messages" in out and "120 rows" in out and "counts verified" in out
        assert answers(pg) == want
        target = Store(pg)
        try:  # new rows continue after the copied ids (identity sequences moved)
            before = target.messages.list(limit=1000, descending=True)[0][0]["id"]
            target.messages.add([msg("pv", "after-copy", 99)], signed=False)
            page, _ = target.messages.list(limit=1, descending=True)
            assert page[0]["message_id"] == "after-copy" and page[0]["id"] > before
            seq = target.states.publish(99, {"step": 99}, None, None)
            assert seq > want["default"][2]["seq"]
        finally:
            target.close()
        # PostgreSQL -> SQLite: the same answers again
        back = f"sqlite:///{tmp_path / 'back.db'}"
        assert main(["store-copy", "--from", pg, "--to", back]) == 0
        got = answers(back)
        assert got["north"] == answers(pg)["north"] == want["north"]
        # a non-empty target is refused, and left as it was
        assert main(["store-copy", "--from", src, "--to", pg]) == 1
        err = capsys.readouterr().err
        assert "already holds rows" in err and err.count("\n") == 1
        assert answers(pg)["north"] == want["north"]


def test_copy_of_a_live_sqlite_store_is_a_snapshot(tmp_path):
    src = f"sqlite:///{tmp_path / 'server.db'}"
    fill(src)
    writer = Store(src)
    seen: list[int] = []

    def progress(table: str, n: int) -> None:  # a server keeps writing during the copy
        if not seen:
            writer.messages.add([msg("pv", f"late-{len(seen)}", 5)], signed=False)
        seen.append(n)

    with postgres_schema() as pg:
        counts = copy_store(src, pg, batch=10, progress=progress)
        assert counts["messages"] == 120  # the late row is not in the snapshot
        assert answers(pg)["default"][0][0][-1]["message_id"] == "default-29-tariff"
    writer.close()
    assert len(answers(src)["default"][0][0]) == 61


def test_refusals_exit_1_with_one_line(tmp_path, capsys):
    src = f"sqlite:///{tmp_path / 'server.db'}"
    fill(src)
    with postgres_schema() as pg:
        pw = pg.replace("://energy@", "://energy:s3cret@")
        assert main(["store-copy", "--from", "mysql://u:s3cret@h/db", "--to", pw]) == 1
        err = capsys.readouterr().err
        assert "source URL" in err and "s3cret" not in err
        assert main(["store-copy", "--from", f"sqlite:///{tmp_path}/none.db", "--to", pg]) == 1
        assert "no such file" in capsys.readouterr().err
        # different schema versions: the source claims a version this server does not know
        newer = tmp_path / "newer.db"
        fill(f"sqlite:///{newer}")
        with sqlite3.connect(newer) as conn:
            conn.execute("INSERT INTO schema_version (version) VALUES (999)")
        assert Store(pg).migrate() > 0
        assert main(["store-copy", "--from", f"sqlite:///{newer}", "--to", pg]) == 1
        err = capsys.readouterr().err
        assert "schema version 999" in err and err.count("\n") == 1
        with Store(pg).db.read() as tx:  # nothing was copied
            assert tx.one("SELECT COUNT(*) FROM messages")[0] == 0
