"""Issue 13, the live system across hosts: several ``energy-agents serve`` processes (other
ports on loopback here) on one real PostgreSQL answer every read, decision and KPI alike
whichever of them is asked; a SIGKILLed one loses nothing it acknowledged, and a client with
every URL carries on against the others.

At the SDK/HTTP level (the real server processes, the real client SDK, the five advisors'
real recommendations for each observation): the runner's and the agents' posts are split
between the servers, several clients on both servers race for each step's decision. The five
real agents plus the runner across hosts: ``test_live_multihost.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from energy_agents.client import AGENT_NAMES, IdentityKey, ServerClient, observation_digest
from energy_agents.client.ids import message_id
from server_fixtures import ServerProcess, observation_dict, postgres_schema

pytestmark = pytest.mark.postgres

STRATEGY = "weighted"
STEPS = range(6)  # the observations of server_fixtures.observation_dict
RACERS = 3  # clients per server asking for each step's decision at once
FLOOD_STEP = 999_000  # the flood's messages stay out of every decided window


def key(name: str) -> IdentityKey:
    return IdentityKey.from_seed(f"multihost tests {name}", 0)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def start_servers(tmp: Path, database: str, n: int) -> list[ServerProcess]:
    """``n`` servers on ``database``, started at once (one agents file for all)."""
    agents = tmp / "agents.json"
    agents.write_text(json.dumps({n: key(n).address for n in (*AGENT_NAMES, "runner")}))
    servers = [ServerProcess(tmp, database, "--agents-file", str(agents)) for _ in range(n)]
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda s: s.start(60), servers))
    return servers


def recommendations(step: int) -> list[dict[str, Any]]:
    """The five advisors' recommendations of ``step``, as the live agents post them."""
    from energy_agents.advisors.registry import recommend_all
    from energy_agents.sim.observation import Observation

    obs = observation_dict(step)
    digest = observation_digest(obs)
    out = []
    for rec in recommend_all(Observation.from_dict(obs)):
        d = json.loads(json.dumps(rec.to_dict()))
        d["message_id"] = message_id(rec.agent_name, step, digest)
        out.append(d)
    return out


class Run:
    """The runner and the five agents as SDK clients; ``homes[i]`` lists the URLs of client
    ``i`` in the order it tries them."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        n = len(self.urls)
        self.runner = ServerClient(self.urls, identity=key("runner"), retry_s=20, timeout=5)
        self.agents = {
            name: ServerClient(self._from(i % n), identity=key(name), retry_s=20, timeout=5)
            for i, name in enumerate(AGENT_NAMES)
        }

    def _from(self, i: int) -> list[str]:
        return self.urls[i:] + self.urls[:i]

    def publish(self, step: int) -> None:
        """Publish ``step`` (through the servers in turn) and post the five recommendations."""
        publisher = ServerClient(self._from(step % len(self.urls)), identity=key("runner"))
        record = {"step": step - 1, "tokens_saved_ct": float(step)} if step else None
        publisher.publish_state(observation_dict(step), record=record, kpis={"steps": step})
        publisher.close()
        for rec in recommendations(step):
            self.agents[rec["agent_name"]].post_recommendation(rec)

    def step(self, step: int, racers: int = 0) -> dict[str, Any]:
        """:meth:`publish`, then ask for the decision; with ``racers``, that many clients
        per server ask at once and must all get the one stored decision."""
        self.publish(step)
        if not racers:
            return dict(self.runner.request_decision(step, STRATEGY).raw)
        clients = [
            ServerClient(url, identity=key("runner"), retry_s=20)
            for url in self.urls
            for _ in range(racers)
        ]
        barrier = threading.Barrier(len(clients))

        def ask(client: ServerClient) -> dict[str, Any]:
            barrier.wait()
            return dict(client.request_decision(step, STRATEGY).raw)

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(ask, clients))
        for c in clients:
            c.close()
        assert all(a == answers[0] for a in answers), f"step {step} decided differently"
        return answers[0]

    def close(self) -> None:
        for c in (self.runner, *self.agents.values()):
            c.close()


def comparable(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision without what only says where and when it was stored."""
    return {k: v for k, v in decision.items() if k not in ("id", "decided_at")}


@pytest.fixture(scope="module")
def one_server_decisions(tmp_path_factory) -> list[dict[str, Any]]:
    """The reference: the same inputs through one server."""
    tmp = tmp_path_factory.mktemp("one-server")
    with postgres_schema() as url:
        (server,) = start_servers(tmp, url, 1)
        try:
            run = Run([server.url])
            out = [comparable(run.step(s)) for s in STEPS]
            run.close()
        finally:
            server.stop()
    assert all(not d["missing"] for d in out)
    return out


def reads(url: str) -> dict[str, Any]:
    """Every read the servers answer, as JSON."""
    paths = [
        "/state",
        "/kpis",
        "/series?since_step=0",
        "/messages?limit=1000",
        f"/messages?step={STEPS[-1]}",
        f"/decisions?strategy={STRATEGY}",
        f"/aggregate?strategy={STRATEGY}",
        *(f"/aggregate?strategy={STRATEGY}&step={s}" for s in STEPS),
        "/aggregate?strategy=seed",  # computed on read, from the same stored window
    ]
    out: dict[str, Any] = {}
    with requests.Session() as s:
        for path in paths:
            r = s.get(url + path, timeout=10)
            assert r.status_code == 200, (url, path, r.text)
            out[path] = r.json()
        metrics = s.get(url + "/metrics", timeout=10).text
    out["/aggregate?strategy=seed"].pop("decided_at")  # the reading server's clock
    out["messages_stored"] = [
        line for line in metrics.splitlines() if line.startswith("energy_agents_messages_stored")
    ]
    return out


def test_two_servers_decide_once_and_answer_alike(tmp_path, pg_url, one_server_decisions):
    servers = start_servers(tmp_path, pg_url, 2)
    try:
        run = Run([s.url for s in servers])
        decisions = [run.step(s, racers=RACERS) for s in STEPS]
        run.close()
        assert [comparable(d) for d in decisions] == one_server_decisions
        first, second = (reads(s.url) for s in servers)
        assert first == second
        assert first[f"/decisions?strategy={STRATEGY}"] == decisions[::-1]  # each stored once
        assert len(first["/messages?limit=1000"]) == len(AGENT_NAMES) * len(STEPS)
    finally:
        for s in servers:
            s.stop()


def test_a_killed_server_loses_nothing_acknowledged(tmp_path, pg_url, one_server_decisions):
    """Step 3's recommendations are acknowledged (three of them by server A), a client floods
    A with posts, A is SIGKILLed: every acknowledged post is in the database, the flooding
    client and the agents and runner carry on against B, and the decisions are the one-server
    run's."""
    a, b = start_servers(tmp_path, pg_url, 2)
    try:
        run = Run([a.url, b.url])
        decisions = [run.step(s) for s in STEPS[:3]]

        acked: list[str] = []
        stop = threading.Event()
        flooder = ServerClient([a.url, b.url], identity=key("grid_trader"), retry_s=20)

        def flood() -> None:
            for i in range(100_000):
                if stop.is_set():
                    return
                mid = f"grid_trader:{FLOOD_STEP}:flood-{i}"
                rec = {"agent_name": "grid_trader", "step": FLOOD_STEP, "message": f"flood {i}"}
                acked.append(flooder.post_recommendation({**rec, "message_id": mid}).message_id)

        thread = threading.Thread(target=flood)
        thread.start()
        while len(acked) < 20:
            time.sleep(0.01)
        run.publish(3)  # acknowledged (three recommendations by A) before A dies
        before_kill = len(acked)
        a.kill()
        while len(acked) < before_kill + 20:  # the flooder carries on against B
            assert thread.is_alive(), "the flooding client gave up"
            time.sleep(0.01)
        stop.set()
        thread.join(30)
        assert flooder.base_url == b.url
        flooder.close()

        decisions.append(dict(run.runner.request_decision(3, STRATEGY).raw))
        assert decisions[3]["missing"] == []  # A's acknowledged step-3 posts are there
        decisions += [run.step(s) for s in STEPS[4:]]  # the agents fail over to B
        assert all(c.base_url == b.url for c in (run.runner, *run.agents.values()))
        run.close()
        assert [comparable(d) for d in decisions] == one_server_decisions

        stored = ServerClient(b.url).messages(step=FLOOD_STEP)
        assert sorted(m.message_id for m in stored) == sorted(acked)  # each once, none lost
        print(f"flood: {before_kill} posts acknowledged by A before the kill, {len(acked)} in all")
    finally:
        a.kill()
        b.stop()


def test_a_client_fails_over_from_a_server_answering_5xx(tmp_path):
    """Server X lost its database (its schema dropped under it: every query fails, it answers
    503); a client listing X first goes on to Y and stays there; with X alone it gets X's 503
    after its retries."""
    import psycopg

    from energy_agents.client import ServerUnavailable

    with postgres_schema() as broken_url, postgres_schema() as good_url:
        (x,) = start_servers(tmp_path, broken_url, 1)
        (y,) = start_servers(tmp_path, good_url, 1)
        try:
            schema = broken_url.rsplit("search_path%3D", 1)[1]
            with psycopg.connect(broken_url.split("?")[0], autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
            assert requests.get(x.url + "/kpis", timeout=5).status_code == 503
            client = ServerClient([x.url, y.url], identity=key("runner"), retry_s=0)
            assert client.publish_state(observation_dict(0)).step == 0
            assert client.base_url == y.url
            assert client.latest_state().step == 0
            client.close()
            lonely = ServerClient(x.url, identity=key("runner"), retry_s=0.3)
            with pytest.raises(ServerUnavailable) as err:
                lonely.publish_state(observation_dict(0))
            assert err.value.status == 503
            lonely.close()
        finally:
            x.stop()
            y.stop()
