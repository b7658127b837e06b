"""Issue 16, request handling: no input reaches a 5xx, GET /aggregate writes nothing, deciding
is the runner's signed POST /decisions, one key one role, observations and levers checked at
the door. Flask test client, on SQLite and PostgreSQL (the served paths: test_server_fuzz.py,
the browser: test_server_cross_site.py)."""

from __future__ import annotations

import json
import re
import time

import pytest

from energy_agents.advisors.types import AGENT_NAMES
from server_fixtures import (
    canonical,
    make_app,
    observation_dict,
    recommendation,
    signed_post,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)


@pytest.fixture
def app(store_url):
    app = make_app(store_url, allow_unsigned=True, allow_unsigned_runner=True)
    yield app
    app.extensions["energy_agents"].store.close()


@pytest.fixture
def signed_app(store_url):
    app = make_app(store_url)
    yield app
    app.extensions["energy_agents"].store.close()


def _post(client, path: str, raw: bytes):
    return client.post(path, data=raw, headers={"Content-Type": "application/json"})


def _error(r) -> dict:
    """The refusal's body: valid UTF-8 JSON with the three keys."""
    err = json.loads(r.get_data().decode("utf-8"))
    assert set(err) == {"error", "field", "reason"}, err
    return err


# ----------------------------------------------------------------------- encodable refusals
BAD_KEYS = [
    (b'{"agent_name": "a", "message": "m", "\\ud800": 5e999}', "/receive"),
    (b'{"agent_name": "a", "message": "m", "\\ud800x": [1e999]}', "/receive"),
    (b'{"agent_name": "a", "message": "m", "step": 1, "data": {"\\udfff": 1}}', "/receive"),
    (b'{"agent_name": "a", "message": "m", "step": 1, "data": {"\\u0000": 1}}', "/receive"),
    (
        b'{"agent_name": "a", "message": "m", "step": 1, "levers": {"\\ud83d": 1}}',
        "/receive",
    ),
    (
        b'{"agent_name": "a", "message": "m", "step": 1, '
        b'"levers": {"storage_setpoints": {"\\ud800": "x"}}}',
        "/receive",
    ),
    (b'[{"agent_name": "a", "message": "m", "data": {"\\ud800": {"\\udc00": 1e999}}}]', "/receive"),
    (b'{"observation": {"step": 0, "\\ud800": 1e999}}', "/state"),
    (b'{"observation": {"\\ud800": {"\\ud800": "\\u0000"}}}', "/state"),
    (b'{"observation": {"step": 0}, "record": {"\\ud800": 1e999}}', "/state"),
    (b'{"step": 0, "strategy": "\\ud800"}', "/decisions"),
    (b'{"step": 0, "\\ud800": 1}', "/decisions"),
]


@pytest.mark.parametrize(("raw", "path"), BAD_KEYS)
def test_bad_keys_answer_4xx_with_an_encodable_field(app, raw, path):
    """A lone surrogate or NUL in a key (where validation builds ``field``) answered 500."""
    c = app.test_client()
    r = _post(c, path, raw)
    assert 400 <= r.status_code < 500, r.get_data()
    err = _error(r)
    for text in (err["field"] or "", err["reason"]):
        text.encode("utf-8")  # no lone surrogate survives
        assert "\x00" not in text
    assert c.get("/messages").get_json() == []
    metrics = c.get("/metrics").get_data(as_text=True)
    assert not re.search(r'status="5\d\d"', metrics), metrics


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/messages", "limit"),
        ("/messages", "step"),
        ("/messages", "cursor"),
        ("/decisions", "limit"),
        ("/decisions", "cursor"),
        ("/series", "since_step"),
        ("/series", "limit"),
        ("/aggregate", "step"),
    ],
)
@pytest.mark.parametrize("digits", ["²", "①", "٣", "-²", "1²"])
def test_unicode_digits_in_integer_params_are_400(app, path, param, digits):
    r = app.test_client().get(path, query_string={param: digits})
    assert r.status_code == 400, r.get_data()
    assert _error(r)["field"] == param


def test_unicode_digits_in_since_are_400(app):
    r = app.test_client().get("/messages", query_string={"since": "١٧٠٠٠٠٠٠٠٠"})
    assert r.status_code == 400 and _error(r)["field"] == "since"


# ----------------------------------------------------------------------- deciding is a POST
def _rows(app) -> dict[str, list]:
    db = app.extensions["energy_agents"].store.db
    with db.read() as tx:
        return {
            t: tx.all(f"SELECT * FROM {t} ORDER BY 1, 2")
            for t in ("decisions", "strategy_states", "states", "records", "messages")
        }


def _publish(c, step: int):
    r = c.post("/state", json={"observation": observation_dict(step)})
    assert r.status_code == 200, r.get_json()
    batch = [recommendation(a, step, "deficit", message_id=f"{a}:{step}") for a in AGENT_NAMES]
    assert c.post("/receive", json=batch).status_code == 200


def test_get_aggregate_writes_nothing(app):
    """The attack of issue 16: ``GET /aggregate?step=2147483647`` decided a step, stored it and
    pruned the running strategy's states. Now a GET is a pure read."""
    c = app.test_client()
    for step in range(3):
        _publish(c, step)
        assert c.post("/decisions", json={"step": step, "strategy": "weighted"}).status_code == 200
    _publish(c, 3)
    before = _rows(app)
    assert len(before["strategy_states"]) == 3 and len(before["decisions"]) == 3
    for query in (
        "strategy=weighted&step=2147483647",
        "strategy=weighted&step=4",
        "strategy=weighted",  # step 3: published, not decided: computed, not stored
        "strategy=seed&step=1",
        "strategy=mpc&step=2",
        "",
    ):
        r = c.get(f"/aggregate?{query}")
        assert r.status_code in (200, 409), r.get_json()
        if r.status_code == 409:
            assert r.get_json()["field"] == "step"
    assert _rows(app) == before
    assert c.get("/aggregate?strategy=weighted&step=9").get_json()["field"] == "step"


def _state_steps(app) -> list[int]:
    with app.extensions["energy_agents"].store.db.read() as tx:
        return [int(r[0]) for r in tx.all("SELECT step FROM strategy_states")]


def test_recent_window_is_not_stored(app):
    """The seed's use without a runner: GET /aggregate decides over the recent window and
    stores nothing."""
    c = app.test_client()
    c.post("/receive", json={"agent_name": "demand_forecaster", "message": "deficit"})
    before = _rows(app)
    agg = c.get("/aggregate").get_json()
    assert agg["window"]["mode"] == "recent" and agg["details"]["deficit_count"] == 1
    assert agg["stored"] is False and agg["step"] is None
    assert _rows(app) == before
    r = c.get("/aggregate?step=0")  # no state published: no step to read
    assert r.status_code == 409 and r.get_json()["field"] == "step"


def test_simulated_and_wall_clock_times_are_named_apart(app):
    """Issue 17: ``timestamp`` (the seed's) is simulated time in some answers and wall-clock in
    others; ``sim_time`` and ``decided_at`` say which is which."""
    c = app.test_client()
    t0 = time.time()
    recent = c.get("/aggregate").get_json()  # the seed's use: no state, the server's clock
    assert recent["sim_time"] is None and t0 - 1 <= recent["decided_at"] <= time.time() + 1
    _publish(c, 2)
    sim = observation_dict(2)["timestamp"]
    for answer in (
        c.post("/decisions", json={"step": 2}).get_json(),
        c.get("/aggregate?step=2").get_json(),
        c.get("/decisions").get_json()[0],
    ):
        assert answer["sim_time"] == answer["timestamp"] == sim
        assert t0 - 1 <= answer["decided_at"] <= time.time() + 1
    msg = c.get("/messages").get_json()[0]
    assert t0 - 1 <= msg["received_at"] <= time.time() + 1


def test_decide_once_and_beyond_the_published_step(app):
    c = app.test_client()
    r = c.post("/decisions", json={"step": 0})
    assert r.status_code == 409 and r.get_json()["field"] == "step"  # nothing published
    _publish(c, 0)
    first = c.post("/decisions", json={"step": 0}).get_json()
    late = recommendation("grid_trader", 0, "surplus surplus", message_id="late")
    assert c.post("/receive", json=late).status_code == 200
    assert c.post("/decisions", json={"step": 0}).get_json() == first  # decided once
    r = c.post("/decisions", json={"step": 1})
    assert r.status_code == 409 and r.get_json()["field"] == "step"
    for body, field in (
        ({"step": -1}, "step"),
        ({"step": "0"}, "step"),
        ({}, "step"),
        ({"step": 0, "strategy": "nope"}, "strategy"),
        ({"step": 0, "strategy": 5}, "strategy"),
        ({"step": 0, "extra": 1}, "extra"),
        ([0], "body"),
    ):
        r = c.post("/decisions", json=body)
        assert r.status_code == 400 and r.get_json()["field"] == field, (body, r.get_json())
    # a new run from step 0: the old trajectory's decisions go with its states
    _publish(c, 0)
    assert c.get("/decisions").get_json() == []


def test_a_step_published_again_while_being_decided_is_decided_anew(app, monkeypatch):
    """The race of two servers: this one computes step 0's decision while a restarted runner
    publishes step 0 again (another observation) through another server. The decision stored
    and answered is the new observation's."""
    c = app.test_client()
    _publish(c, 0)
    store = app.extensions["energy_agents"].store
    again = dict(observation_dict(0), timestamp="2031-05-05 05:00:00")
    save = store.decisions.save_once
    saves: list[int | None] = []

    def racing(strategy, step, decision, state, observation_seq=None, community="default"):
        if not saves:  # the other server's publication lands between compute and commit
            assert isinstance(store.states.publish(0, again, None, None), int)
        saves.append(observation_seq)
        return save(strategy, step, decision, state, observation_seq, community)

    monkeypatch.setattr(store.decisions, "save_once", racing)
    answer = c.post("/decisions", json={"step": 0}).get_json()
    assert len(saves) == 2 and saves[0] != saves[1]
    assert answer["sim_time"] == "2031-05-05 05:00:00"
    assert [d["sim_time"] for d in c.get("/decisions").get_json()] == ["2031-05-05 05:00:00"]


def test_retention_never_drops_states_at_or_after_the_published_step(app, monkeypatch):
    import energy_agents.server.store.decisions as store_mod

    monkeypatch.setattr(store_mod, "STRATEGY_STATES_KEPT", 2)
    c = app.test_client()
    for step in range(6):
        _publish(c, step)
    for step in (5, 0, 1, 4):  # any order; each step at most the published one (5)
        assert c.post("/decisions", json={"step": step, "strategy": "weighted"}).status_code == 200
    steps = sorted(_state_steps(app))
    assert 5 in steps and 4 in steps
    assert all(s >= 5 - 2 for s in steps if s > 1)
    assert c.post("/decisions", json={"step": 6, "strategy": "weighted"}).status_code == 409
    assert 5 in _state_steps(app)


# ----------------------------------------------------------------------- one key, one role
def test_one_key_one_role(store_url):
    app = make_app(store_url, allow_unsigned=True, runner_token="run-token")
    c = app.test_client()
    try:
        obs = {"observation": observation_dict(0)}
        # the runner's endpoints: not unsigned, not an agent's key; the runner's key or token
        assert c.post("/state", json=obs).status_code == 401
        r = signed_post(c, "/state", obs, "grid_trader")
        assert r.status_code == 403 and "role 'runner'" in r.get_json()["reason"]
        assert signed_post(c, "/state", obs, "runner").status_code == 200
        assert c.post("/decisions", json={"step": 0}).status_code == 401
        r = signed_post(c, "/decisions", {"step": 0}, "storage_optimizer")
        assert r.status_code == 403 and r.get_json()["field"] == "X-Agent-Address"
        assert "role 'runner'" in r.get_json()["reason"]
        ok = signed_post(c, "/decisions", {"step": 0}, "runner")
        assert ok.status_code == 200
        again = c.post(
            "/decisions", json={"step": 0}, headers={"Authorization": "Bearer run-token"}
        )
        assert again.status_code == 200 and again.get_json() == ok.get_json()
        # a replayed signed request is refused like any other
        body = canonical({"step": 0})
        from energy_agents.client.signing import sign_headers
        from server_fixtures import identity

        h = {"Content-Type": "application/json"}
        h.update(sign_headers(identity("runner"), "POST", "/decisions", body))
        assert c.post("/decisions", data=body, headers=h).status_code == 200
        r = c.post("/decisions", data=body, headers=h)
        assert r.status_code == 409 and r.get_json()["field"] == "X-Agent-Nonce"
        # the agents' endpoint: not the runner's key, not the runner's name
        rec = recommendation("runner", 0, "deficit")
        r = signed_post(c, "/receive", rec, "runner")
        assert r.status_code == 403 and "role 'agent'" in r.get_json()["reason"]
        r = c.post("/receive", json=rec)  # unsigned, allowed, but not in the runner's name
        assert r.status_code == 403 and r.get_json()["field"] == "agent_name"
        r = c.post("/receive", json=[recommendation("grid_trader", 0, "x"), rec])
        assert r.status_code == 403 and r.get_json()["field"] == "[1].agent_name"
        assert c.get("/messages").get_json() == []
        assert signed_post(c, "/receive", recommendation("grid_trader", 0, "x"), "grid_trader")
    finally:
        app.extensions["energy_agents"].store.close()


def test_allow_unsigned_runner_opens_the_runner_endpoints(app):
    c = app.test_client()
    assert c.post("/state", json={"observation": observation_dict(0)}).status_code == 200
    assert c.post("/decisions", json={"step": 0}).status_code == 200


# ----------------------------------------------------------------------- checked at the door
def _obs(**changes):
    obs = observation_dict(1)
    obs.update(changes)
    return obs


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timestamp": 5}, "observation.timestamp"),
        ({"timestamp": "yesterday"}, "observation.timestamp"),
        ({"dt_h": "x"}, "observation.dt_h"),
        ({"dt_h": 0}, "observation.dt_h"),
        ({"dt_h": True}, "observation.dt_h"),
        ({"n_steps": 1.5}, "observation.n_steps"),
        ({"steps_per_day": 0}, "observation.steps_per_day"),
        ({"member_names": "abc"}, "observation.member_names"),
        ({"member_names": [1, 2, 3]}, "observation.member_names[0]"),
        ({"storage_names": ["a", "a"]}, "observation.storage_names"),
        ({"member_soc": [0.5]}, "observation.member_soc"),
        ({"member_soc": ["x", 1, 2]}, "observation.member_soc[0]"),
        ({"price_day_ahead": {"a": 1}}, "observation.price_day_ahead"),
        ({"member_hist_load_kwh": [[1.0]]}, "observation.member_hist_load_kwh[0]"),
        ({"storage_soc": {"nope": 0.5}}, "observation.storage_soc"),
        ({"elasticity": None}, "observation.elasticity"),
        ({"max_burn_rate_ct_per_kwh": -1}, "observation.max_burn_rate_ct_per_kwh"),
        ({"tariff": []}, "observation.tariff"),
        ({"last_levers": {"warp": 1}}, "observation.last_levers.warp"),
        (
            {"last_levers": {"burn_rate_ct_per_kwh": -1e308}},
            "observation.last_levers.burn_rate_ct_per_kwh",
        ),
    ],
)
def test_observation_is_validated_fully(app, changes, field):
    """``timestamp: 5`` or ``dt_h: "x"`` were stored, and every strategy that reads the
    observation failed afterwards."""
    c = app.test_client()
    r = c.post("/state", json={"observation": _obs(**changes)})
    assert r.status_code == 400, r.get_json()
    assert _error(r)["field"] == field
    assert c.get("/state").status_code == 404
    assert c.post("/state", json={"observation": _obs()}).status_code == 200


@pytest.mark.parametrize(
    ("levers", "field"),
    [
        ({"burn_rate_ct_per_kwh": -1e308}, "levers.burn_rate_ct_per_kwh"),
        ({"burn_rate_ct_per_kwh": -0.1}, "levers.burn_rate_ct_per_kwh"),
        ({"burn_rate_ct_per_kwh": 1e300}, "levers.burn_rate_ct_per_kwh"),
        ({"procurement_kwh": -5}, "levers.procurement_kwh"),
        ({"procurement_kwh": 1e308}, "levers.procurement_kwh"),
        ({"exchange_target_kwh": -1e308}, "levers.exchange_target_kwh"),
        ({"storage_setpoints": {"storage_A": 1.5}}, "levers.storage_setpoints.storage_A"),
        ({"storage_setpoints": {f"s{i}": 0.0 for i in range(5000)}}, "levers.storage_setpoints"),
        ({"storage_setpoints": {"": 0.0}}, "levers.storage_setpoints"),
    ],
)
def test_levers_that_can_never_be_valid_are_refused(app, levers, field):
    c = app.test_client()
    r = c.post("/receive", json=recommendation("grid_trader", 0, "x", levers=levers))
    assert r.status_code == 400 and _error(r)["field"] == field
    assert c.get("/messages").get_json() == []


def test_levers_at_the_bounds_are_taken(app):
    levers = {
        "burn_rate_ct_per_kwh": 0.0,
        "procurement_kwh": 0.0,
        "storage_setpoints": {"storage_A": -1.0, "storage_B": 1.0, "members": 0.0},
        "exchange_target_kwh": -3.0,
    }
    r = app.test_client().post(
        "/receive", json=recommendation("grid_trader", 0, "x", levers=levers)
    )
    assert r.status_code == 200, r.get_json()


# ----------------------------------------------------------------------- devices at the door
def _one(kind: str) -> dict:
    """One charger's (``ev``), appliance's or tank's fields, every array of length 1."""
    from energy_agents.sim.observation import APPLIANCE_FIELDS, EV_FIELDS, TANK_FIELDS

    group = {"ev": EV_FIELDS, "appliance": APPLIANCE_FIELDS, "tank": TANK_FIELDS}[kind]
    return {f"{kind}_names": ["d1"], **{name: [0.0] for name in group}}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({**_one("ev"), "ev_connected": [1.0, 0.0]}, "observation.ev_connected"),
        ({"ev_names": ["c1", "c1"]}, "observation.ev_names"),
        ({"ev_names": ["c1"]}, "observation.ev_member"),  # named chargers need their arrays
        ({**_one("appliance"), "appliance_waiting": ["yes"]}, "observation.appliance_waiting[0]"),
        ({**_one("tank"), "tank_energy_kwh": [1.0, 2.0]}, "observation.tank_energy_kwh"),
        ({"tank_names": ["t1"]}, "observation.tank_member"),
        (
            {**_one("tank"), "hist_tank_demand_kwh": [[0.5], [0.5, 1.0]]},
            "observation.hist_tank_demand_kwh[1]",
        ),
        (
            {**_one("tank"), "hist_tank_demand_kwh": [["x"]]},
            "observation.hist_tank_demand_kwh[0][0]",
        ),
        ({**_one("tank"), "hist_tank_demand_kwh": 3}, "observation.hist_tank_demand_kwh"),
        (
            {**_one("ev"), "hist_ev_connected": [[1.0], [1.0, 0.0]]},
            "observation.hist_ev_connected[1]",
        ),
        ({**_one("ev"), "hist_ev_energy_kwh": [[None]]}, "observation.hist_ev_energy_kwh[0][0]"),
    ],
)
def test_device_fields_of_an_observation_are_checked(app, extra, field):
    r = app.test_client().post("/state", json={"observation": {**observation_dict(0), **extra}})
    assert r.status_code == 400 and _error(r)["field"] == field, r.get_json()


def test_device_levers_are_checked(app):
    c = app.test_client()
    _publish(c, 0)
    obs = observation_dict(1)
    obs["last_levers"] = {"ev_setpoints": {"c1": 2.0}}
    r = c.post("/state", json={"observation": obs})
    assert r.status_code == 400 and _error(r)["field"] == "observation.last_levers.ev_setpoints.c1"
    obs["last_levers"] = {"appliance_start": {"wm": 1}}
    r = c.post("/state", json={"observation": obs})
    assert r.status_code == 400
    assert _error(r)["field"] == "observation.last_levers.appliance_start.wm"
    obs["last_levers"] = {"battery_setpoints": {"Building_1": -1.5}}
    r = c.post("/state", json={"observation": obs})
    assert r.status_code == 400
    assert _error(r)["field"] == "observation.last_levers.battery_setpoints.Building_1"
    obs["last_levers"] = {"battery_setpoints": {"Building_1": -0.5}}
    assert c.post("/state", json={"observation": obs}).status_code in (200, 201)


def test_thermal_setpoints_are_checked(app):
    c = app.test_client()
    _publish(c, 0)
    obs = observation_dict(1)
    obs["last_levers"] = {"thermal_setpoints": {"Building_1/dhw": 1.5}}
    r = c.post("/state", json={"observation": obs})
    assert r.status_code == 400
    assert _error(r)["field"] == "observation.last_levers.thermal_setpoints.Building_1/dhw"
