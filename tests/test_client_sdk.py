"""The client SDK (energy_agents.client) against a real server (``energy-agents serve``)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from energy_agents.advisors import types as advisor_types
from energy_agents.client import (
    AGENT_NAMES,
    AuthError,
    Decision,
    IdentityKey,
    InvalidRequest,
    Message,
    Outbox,
    ServerClient,
    ServerRefused,
    ServerUnavailable,
    observation_digest,
)
from energy_agents.client.ids import message_id
from energy_agents.client.signing import sign_headers
from energy_agents.server.core.signatures import verify_digest
from server_fixtures import ServerProcess, free_port, observation_dict, recommendation

RUNNER_TOKEN = "sdk-test-runner-token"


def key(name: str) -> IdentityKey:
    return IdentityKey.from_seed(f"sdk tests {name}", 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sdk-server")
    agents = {n: key(n).address for n in (*AGENT_NAMES, "runner")}
    (tmp / "agents.json").write_text(json.dumps(agents))
    proc = ServerProcess(
        tmp,
        str(tmp / "server.sqlite"),
        "--agents-file",
        str(tmp / "agents.json"),
        "--runner-token",
        RUNNER_TOKEN,
        workers=1,
        threads=4,
    ).start()
    yield proc
    proc.stop()


def test_identity_key_is_a_uagents_identity():
    from uagents_core.identity import Identity

    for seed, index in (("runner", 0), ("sdk tests grid_trader", 0), ("x" * 100, 7)):
        ours, theirs = IdentityKey.from_seed(seed, index), Identity.from_seed(seed, index)
        assert ours.address == theirs.address
        assert ours.private_key == theirs.private_key
        assert IdentityKey.from_hex(theirs.private_key).address == theirs.address
        for i in range(3):
            digest = hashlib.sha256(f"{seed}{i}".encode()).digest()
            signature = ours.sign_digest(digest)
            assert signature == ours.sign_digest(digest)  # RFC 6979: deterministic
            assert Identity.verify_digest(theirs.address, digest, signature)
            assert verify_digest(theirs.address, digest, signature)  # the server's fast path
            assert not verify_digest(theirs.address, bytes(32), signature)
    with pytest.raises(ValueError, match="private key"):
        IdentityKey.from_hex("00" * 32)


def test_agent_names_are_the_advisors():
    assert AGENT_NAMES == advisor_types.AGENT_NAMES


def test_a_step_publish_recommend_decide_read(server):
    runner = ServerClient(server.url, identity=key("runner"), retry_s=5)
    obs = observation_dict(0)
    ack = runner.publish_state(obs, kpis={"tokens_spent_ct": 1.5})
    assert (ack.step, ack.signed) == (0, True)
    state = runner.latest_state()
    assert state is not None and state.step == 0 and dict(state.observation) == obs
    digest = observation_digest(state.observation)

    for name in AGENT_NAMES:
        agent = ServerClient(server.url, identity=key(name))
        rec = recommendation(name, 0, f"{name} says hi", message_id=message_id(name, 0, digest))
        receipt = agent.post_recommendation(rec)
        assert (receipt.step, receipt.signed, receipt.duplicate) == (0, True, False)
        assert receipt.message_id == rec["message_id"]
        assert agent.post_recommendation(rec).duplicate  # idempotent on message_id
        agent.close()

    assert runner.wait_for_recommendations(0, timeout_s=5, digest=digest) == set(AGENT_NAMES)
    messages = runner.messages(step=0)
    assert all(isinstance(m, Message) for m in messages)
    assert sorted(m.agent_name for m in messages) == sorted(AGENT_NAMES)
    assert all(m.signed and m.step == 0 and m.levers is not None for m in messages)
    assert [m.agent_name for m in runner.messages(step=0, agent="grid_trader")] == ["grid_trader"]

    decision = runner.request_decision(0, "seed")
    assert isinstance(decision, Decision)
    assert (decision.step, decision.strategy, decision.missing) == (0, "seed", ())
    assert "burn_rate_ct_per_kwh" in decision.parameters
    assert runner.decisions_endpoint is True  # the runner's signed POST /decisions
    again = runner.request_decision(0, "seed")  # decided once: the stored decision
    assert again.parameters == decision.parameters
    stored = runner.decisions(strategy="seed")
    assert any(d.step == 0 and d.parameters == decision.parameters for d in stored)
    assert runner.wait_decision(0, "seed", timeout_s=2).parameters == decision.parameters
    assert runner.kpis()["tokens_spent_ct"] == 1.5
    runner.close()


def test_bearer_token_publishes_and_a_wrong_one_is_refused(server):
    with ServerClient(server.url, write_token=RUNNER_TOKEN) as runner:
        ack = runner.publish_state(observation_dict(1))
        assert (ack.step, ack.signed) == (1, False)
    with (
        ServerClient(server.url, write_token="wrong", retry_s=0) as intruder,
        pytest.raises(AuthError) as err,
    ):
        intruder.publish_state(observation_dict(1))
    assert err.value.status == 401 and err.value.field == "X-Agent-Signature"


def test_refusals_name_the_field(server):
    runner = ServerClient(server.url, identity=key("runner"), retry_s=0)
    bad = dict(observation_dict(0))
    del bad["n_steps"]
    with pytest.raises(InvalidRequest) as err:
        runner.publish_state(bad)
    assert (err.value.status, err.value.field, err.value.reason) == (
        400,
        "observation.n_steps",
        "missing",
    )
    assert "observation.n_steps: missing" in str(err.value)

    agent = ServerClient(server.url, identity=key("grid_trader"), retry_s=0)
    with pytest.raises(InvalidRequest) as err:
        agent.post_recommendation(recommendation("grid_trader", 0, confidence=3.0))
    assert err.value.field == "confidence"

    with pytest.raises(AuthError) as err:  # signed by the grid trader, naming another agent
        agent.post_recommendation(recommendation("p2p_trader", 0))
    assert err.value.status == 403

    stranger = ServerClient(server.url, identity=IdentityKey.generate(), retry_s=0)
    with pytest.raises(AuthError) as err:
        stranger.post_recommendation(recommendation("grid_trader", 0))
    assert (err.value.status, err.value.field) == (403, "X-Agent-Address")

    with pytest.raises(ServerRefused) as err:
        runner.request_decision(0, "no-such-strategy")
    assert (err.value.status, err.value.field) == (400, "strategy")
    assert "weighted" in err.value.reason  # the known ones are listed


def test_fails_over_from_a_dead_url(server):
    dead = f"http://127.0.0.1:{free_port()}"
    client = ServerClient([dead, server.url], identity=key("runner"), retry_s=0, timeout=2)
    assert client.publish_state(observation_dict(2)).step == 2
    assert client.base_url == server.url  # stays on the one that answered
    assert client.latest_state().step == 2
    client.close()

    nobody = ServerClient([dead, f"http://127.0.0.1:{free_port()}"], retry_s=0.5)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="no answer"):
        nobody.kpis()
    assert time.monotonic() - started < 5
    assert not nobody.health()


def test_outbox_is_replayed_after_a_server_restart(tmp_path):
    agents = {n: key(n).address for n in (*AGENT_NAMES, "runner")}
    (tmp_path / "agents.json").write_text(json.dumps(agents))
    db = str(tmp_path / "server.sqlite")
    server = ServerProcess(
        tmp_path, db, "--agents-file", str(tmp_path / "agents.json"), workers=1, threads=2
    )
    server.start()
    try:
        agent = ServerClient(server.url, identity=key("storage_optimizer"), retry_s=0)
        outbox = Outbox(tmp_path / "outbox" / "storage_optimizer.sqlite")
        recs = [recommendation("storage_optimizer", s, f"step {s}") for s in (3, 4)]
        for rec in recs:
            rec["message_id"] = message_id("storage_optimizer", rec["step"], "ab" * 8)
            outbox.put(rec["message_id"], rec)
        server.kill()  # SIGKILL: the server is gone mid-run
        down = agent.flush_outbox(outbox)
        assert (down.sent, down.dead, down.pending) == (0, 0, 2) and down.last_error

        server.start()  # the same port and database
        bad = recommendation("storage_optimizer", 5, confidence=-1.0, message_id="bad:5")
        outbox.put("bad:5", bad)
        up = agent.flush_outbox(outbox)
        assert (up.sent, up.dead, up.pending) == (2, 1, 0)
        assert outbox.known(recs[0]["message_id"]) and outbox.dead_count() == 1
        stored = agent.messages(agent="storage_optimizer")
        assert [(m.step, m.message) for m in stored] == [(3, "step 3"), (4, "step 4")]
        outbox.close()
        agent.close()
    finally:
        server.stop()


def test_numpy_arrays_are_posted_as_lists(server):
    np = pytest.importorskip("numpy")
    runner = ServerClient(server.url, identity=key("runner"), retry_s=0)
    obs = observation_dict(3)
    obs["price_day_ahead"] = np.asarray(obs["price_day_ahead"])
    assert runner.publish_state(obs).step == 3
    assert runner.latest_state().observation["price_day_ahead"] == obs["price_day_ahead"].tolist()


def test_a_client_needs_a_url():
    with pytest.raises(ValueError, match="base_url"):
        ServerClient([])
    with pytest.raises(ValueError, match="base_url"):
        ServerClient("127.0.0.1:9000")
    pair = ServerClient("http://127.0.0.1:9000/, http://127.0.0.1:9001")  # a --server flag
    assert pair.urls == ["http://127.0.0.1:9000", "http://127.0.0.1:9001"]

    import argparse

    from energy_agents.commands.live_options import server_list

    assert server_list("http://a:9000/, http://b:9000") == "http://a:9000,http://b:9000"
    with pytest.raises(argparse.ArgumentTypeError, match="'b:9000' is not an http"):
        server_list("http://a:9000,b:9000")


def _doc_observation() -> dict:
    text = (Path(__file__).resolve().parents[1] / "docs" / "client.md").read_text()
    block = text.split("<!-- observation-example -->", 1)[1]
    return json.loads(block.split("```json", 1)[1].split("```", 1)[0])


def test_the_documented_minimal_observation_is_taken_by_server_and_advisors(server):
    from energy_agents.advisors.registry import recommend_all
    from energy_agents.coordination.registry import make_strategy
    from energy_agents.coordination.step import coordinate
    from energy_agents.sim.observation import Observation

    obs = _doc_observation()
    runner = ServerClient(server.url, identity=key("runner"), retry_s=0)
    assert runner.publish_state(obs).step == 0
    parsed = Observation.from_dict(runner.latest_state().observation)
    recs = recommend_all(parsed)
    assert sorted(r.agent_name for r in recs) == sorted(AGENT_NAMES)
    decision, _, _ = coordinate(make_strategy("weighted"), parsed, {}, recs)
    assert decision.parameters.burn_rate_ct_per_kwh >= 0
    for name in ("n_steps", "price_day_ahead", "member_names"):
        broken = {k: v for k, v in obs.items() if k != name}
        with pytest.raises(InvalidRequest) as err:
            runner.publish_state(broken)
        assert err.value.field == f"observation.{name}"


def test_a_batch_of_recommendations_and_the_series(server):
    runner = ServerClient(server.url, identity=key("runner"), retry_s=0)
    runner.publish_state(observation_dict(4), record={"step": 3, "tokens_spent_ct": 0.25})
    agent = ServerClient(server.url, identity=key("p2p_trader"), retry_s=0)
    batch = [recommendation("p2p_trader", 4, f"part {i}", message_id=f"p2p:4:{i}") for i in (1, 2)]
    receipts = agent.post_recommendations(batch)
    assert [(r.message_id, r.step, r.signed) for r in receipts] == [
        ("p2p:4:1", 4, True),
        ("p2p:4:2", 4, True),
    ]
    with pytest.raises(InvalidRequest) as err:  # all or nothing: the second is wrong
        agent.post_recommendations([batch[0], {**batch[1], "step": -1}])
    assert err.value.field == "[1].step"
    series = runner.series(since_step=3)
    assert [r["step"] for r in series] == [3] and series[0]["tokens_spent_ct"] == 0.25


def test_two_communities_on_one_server_never_meet(server):
    """The same steps, agents and message ids in two communities: each reads, decides and
    lists only its own; ``?community=`` is signed with the path (through granian's fast
    ``/receive`` path and the Flask views)."""
    runners = {
        c: ServerClient(server.url, identity=key("runner"), retry_s=5, community=c)
        for c in ("north", "south")
    }
    for i, (c, runner) in enumerate(runners.items()):
        obs = dict(observation_dict(0), timestamp=f"2031-0{i + 1}-01 00:00:00")
        assert runner.publish_state(obs, kpis={"community": c}).step == 0
        for name in AGENT_NAMES:
            with ServerClient(server.url, identity=key(name), community=c) as agent:
                rec = recommendation(name, 0, f"{c} {name}", message_id=message_id(name, 0, "x"))
                assert not agent.post_recommendation(rec).duplicate  # same id, other community
        assert runner.wait_for_recommendations(0, timeout_s=5) == set(AGENT_NAMES)
    for i, (c, runner) in enumerate(runners.items()):
        assert {m.message.split()[0] for m in runner.messages(step=0)} == {c}
        decision = runner.request_decision(0, "seed")
        assert runner.kpis() == {"community": c}
        assert runner.latest_state().observation["timestamp"] == f"2031-0{i + 1}-01 00:00:00"
        assert [d.step for d in runner.decisions(strategy="seed")] == [0]
        assert decision.raw["sim_time"] == f"2031-0{i + 1}-01 00:00:00"
        assert decision.raw["community"] == c
        runner.close()
    listed = requests.get(f"{server.url}/communities", timeout=5).json()
    assert {"north", "south"} <= set(listed["communities"])
    # a signature covers the query: moved to another community, the post is refused
    body = json.dumps(recommendation("grid_trader", 0, "moved")).encode()
    headers = sign_headers(key("grid_trader"), "POST", "/receive?community=north", body)
    headers["Content-Type"] = "application/json"
    moved = requests.post(
        f"{server.url}/receive?community=south", data=body, headers=headers, timeout=5
    )
    assert moved.status_code == 401 and moved.json()["field"] == "X-Agent-Signature"
    kept = requests.post(
        f"{server.url}/receive?community=north", data=body, headers=headers, timeout=5
    )
    assert kept.status_code == 200 and kept.json()["community"] == "north"
    bad = requests.get(f"{server.url}/messages", params={"community": "../x"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["field"] == "community"
    with pytest.raises(ValueError, match="community"):
        ServerClient(server.url, community="a b")
