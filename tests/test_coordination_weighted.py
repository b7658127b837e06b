"""``weighted``: documented conflict resolution and fallbacks; ``learned``: JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from energy_agents.advisors.registry import recommend_all
from energy_agents.advisors.types import AGENT_NAMES, Recommendation
from energy_agents.coordination.baseline import naive_procurement_kwh
from energy_agents.coordination.learned import (
    ARMS,
    Learned,
    _demand,
    _energies,
    _snapshot,
    learn,
    replay_banks,
    replay_step,
)
from energy_agents.coordination.seed import count_keywords
from energy_agents.coordination.step import coordinate
from energy_agents.coordination.weighted import Weighted
from energy_agents.scenarios.tiny import tiny_scenario
from energy_agents.sim import MEMBER_BATTERIES, Community, Levers


@pytest.fixture(scope="module")
def obs():
    c = Community(tiny_scenario(seed=5, n_members=5, n_steps=24 * 3))
    for _ in range(30):
        c.step(Levers())
    return c.observe()


def _rec(name, step, levers, confidence=0.8, saving=1.0, data=None, message="ok"):
    return Recommendation(name, step, message, levers, confidence, saving, data or {})


def test_conflict_on_a_storage_goes_to_the_heavier_advisor(obs):
    # storage_optimizer: authority 1.0 x confidence 0.8; grid_trader: 0.4 x 0.9.
    recs = [
        _rec("storage_optimizer", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: -1.0}}, 0.8),
        _rec("grid_trader", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: 1.0}}, 0.9),
    ]
    d, _ = Weighted().decide(obs, recs, {})
    assert d.parameters.storage_setpoints[MEMBER_BATTERIES] == -1.0
    assert "grid_trader" in d.overridden and "storage_optimizer" in d.followed
    # A storage optimizer with almost no confidence loses the same conflict.
    recs[0] = _rec(
        "storage_optimizer", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: -1.0}}, 0.1
    )
    d, _ = Weighted().decide(obs, recs, {})
    assert d.parameters.storage_setpoints[MEMBER_BATTERIES] == 1.0
    assert "storage_optimizer" in d.overridden


def test_agreeing_advice_is_blended_by_weight(obs):
    recs = [
        _rec("storage_optimizer", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: -1.0}}, 0.8),
        _rec("grid_trader", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: -0.5}}, 0.5),
    ]
    d, _ = Weighted().decide(obs, recs, {})
    w_so, w_gt = 1.0 * 0.8, 0.4 * 0.5
    expected = (w_so * -1.0 + w_gt * -0.5) / (w_so + w_gt)
    assert d.parameters.storage_setpoints[MEMBER_BATTERIES] == pytest.approx(expected)
    assert d.overridden == ()


def test_community_storage_takes_procurement_from_its_winner(obs):
    recs = [
        _rec(
            "storage_optimizer",
            obs.step,
            {"storage_setpoints": {"storage_A": -1.0, "storage_B": -1.0}, "procurement_kwh": 3.0},
        ),
        _rec(
            "grid_trader",
            obs.step,
            {"storage_setpoints": {"storage_A": 1.0}, "procurement_kwh": 9.0},
        ),
        _rec("demand_forecaster", obs.step, {"procurement_kwh": 5.0}),
    ]
    d, _ = Weighted().decide(obs, recs, {})
    assert d.parameters.procurement_kwh == pytest.approx(3.0)
    assert d.parameters.p2p_enabled and d.parameters.storage_follow


def test_pooled_home_batteries_take_procurement_from_their_winner(obs):
    recs = [
        _rec(
            "storage_optimizer",
            obs.step,
            {
                "storage_setpoints": dict.fromkeys(obs.storage_names, -1.0),
                "home_batteries_pooled": True,
                "procurement_kwh": 3.0,
            },
        ),
        _rec("demand_forecaster", obs.step, {"procurement_kwh": 5.0}),
        _rec("p2p_trader", obs.step, {"p2p_enabled": False}),
    ]
    d, _ = Weighted().decide(obs, recs, {})
    lv = d.parameters
    assert lv.home_batteries_pooled and lv.storage_follow
    assert lv.procurement_kwh == pytest.approx(3.0)
    # The pool reaches the neighbours through the market: P2P stays on, the trader overridden.
    assert lv.p2p_enabled and "p2p_trader" in d.overridden
    # The grid trader winning the home batteries (storage optimizer missing) means no pooling.
    gt = _rec("grid_trader", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: -0.5}})
    d, _ = Weighted().decide(obs, [gt], {})
    assert not d.parameters.home_batteries_pooled


def test_fallbacks_when_advisors_are_missing(obs):
    d, _ = Weighted().decide(obs, [], {})
    lv = d.parameters
    assert set(d.missing) == set(AGENT_NAMES)
    assert all(v == -1.0 for v in lv.storage_setpoints.values())  # self-consumption
    assert lv.storage_follow and lv.p2p_enabled and lv.p2p_price_rule == "midpoint"
    assert lv.burn_rate_ct_per_kwh == 0.0
    assert lv.procurement_kwh == pytest.approx(naive_procurement_kwh(obs))


def test_late_recommendations_count_as_missing(obs):
    late = _rec("token_economist", obs.step - 1, {"burn_rate_ct_per_kwh": 0.5})
    d, _ = Weighted().decide(obs, [late], {})
    assert "token_economist" in d.missing
    assert d.parameters.burn_rate_ct_per_kwh == 0.0


def test_missing_storage_optimizer_falls_back_to_grid_trader(obs):
    recs = [_rec("grid_trader", obs.step, {"storage_setpoints": {MEMBER_BATTERIES: 1.0}})]
    d, _ = Weighted().decide(obs, recs, {})
    assert d.parameters.storage_setpoints[MEMBER_BATTERIES] == 1.0
    assert "storage_optimizer" in d.missing


@pytest.mark.parametrize("strategy", [Weighted(), Learned()])
def test_details_carry_the_seed_counts(obs, strategy):
    recs = recommend_all(obs)
    d, _ = strategy.decide(obs, recs, {})
    assert dict(d.details) == count_keywords(r.message for r in recs)


def test_learned_state_round_trips_through_json():
    s = tiny_scenario(seed=9, n_members=4, n_steps=24 * 3)
    c, strategy, state = Community(s), Learned(), {}
    for _ in range(40):
        decision, _, state = coordinate(strategy, c.observe(), state)
        c.step(decision.parameters)
    assert state["n_evaluated"] > 0
    assert set(state["weights"]) == set(ARMS)
    assert sum(state["weights"].values()) == pytest.approx(1.0)
    obs = c.observe()
    recs = recommend_all(obs)
    a, sa = strategy.decide(obs, recs, state)
    b, sb = strategy.decide(obs, recs, json.loads(json.dumps(state)))
    assert a.to_dict() == b.to_dict()
    assert json.dumps(sa, sort_keys=True) == json.dumps(sb, sort_keys=True)


def test_replay_reproduces_the_simulator_step():
    """The replay of a step (demand response, home batteries on their own or pooled, market,
    community storages) costs what the simulator charges and ends in the same state."""
    s = tiny_scenario(seed=4, n_members=6, n_steps=48, flexible_share=0.3)
    c = Community(s)
    for _ in range(19):
        c.step(Levers(burn_rate_ct_per_kwh=0.5))  # a backlog to release
    obs = c.observe()
    snap = _snapshot(obs)
    cases = [
        Levers(
            procurement_kwh=2.0,
            storage_setpoints={n: 0.5 for n in obs.storage_names},
            storage_follow=True,
            p2p_enabled=True,
        ),
        Levers(
            procurement_kwh=2.0,
            storage_setpoints={n: -0.7 for n in obs.storage_names},
            p2p_enabled=True,
        ),
        Levers(
            procurement_kwh=1.0,
            storage_setpoints={n: -1.0 for n in obs.storage_names},
            storage_follow=True,
            p2p_enabled=True,
            home_batteries_pooled=True,
            burn_rate_ct_per_kwh=0.4,
        ),
        Levers(
            procurement_kwh=3.0,
            storage_setpoints={n: 0.0 for n in obs.storage_names},
            storage_follow=True,
            home_batteries_pooled=True,
        ),
    ]
    for lv in cases:
        twin = Community(s)
        for _ in range(19):
            twin.step(Levers(burn_rate_ct_per_kwh=0.5))
        res = twin.step(lv)
        cost, (e_m, e_c, backlog), imp, _ = replay_step(
            lv,
            snap["prices"],
            snap["dt_h"],
            replay_banks(snap),
            _energies(snap),
            s.load_kwh[19],
            s.pv_kwh[19],
            _demand(snap),
            False,
        )
        np.testing.assert_allclose(cost, res.grid_cost_ct + res.burned_ct, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(imp, res.import_kwh, atol=1e-9)
        np.testing.assert_allclose(e_m, twin.member_energy, atol=1e-9)
        np.testing.assert_allclose(e_c, twin.community_energy, atol=1e-9)
        np.testing.assert_allclose(backlog, twin.backlog, atol=1e-9)


@pytest.mark.parametrize(
    ("burn_hours", "worse"),
    [(range(0, 7), "follow"), (range(17, 22), "follow_no_burn")],
)
def test_learned_replay_prices_the_burns_shift(burn_hours, worse):
    """Deferring night load (0.20) into the morning (0.30) costs more than not burning;
    deferring the evening peak (0.40) to 22:00 (0.20) costs less: the replay sees both."""
    s = tiny_scenario(seed=2, n_members=4, n_steps=48, n_community_storages=0, flexible_share=0.4)
    idle = Levers(storage_setpoints={MEMBER_BATTERIES: 0.0}, p2p_enabled=True)
    burn = Levers(
        burn_rate_ct_per_kwh=0.5, storage_setpoints={MEMBER_BATTERIES: 0.0}, p2p_enabled=True
    )
    c = Community(s)
    snap = _snapshot(c.observe())
    records = []
    for t in range(24):
        obs = c.observe()
        records.append(
            {
                "step": t,
                "backlog": 0.0,
                "prices": [
                    float(obs.price_day_ahead[0]),
                    float(obs.price_imbalance_buy[0]),
                    float(obs.price_imbalance_sell[0]),
                    float(obs.price_feed_in[0]),
                ],
                "value": float(np.min(obs.price_day_ahead)),
                "arms": {
                    "follow": (burn if t in burn_hours else idle).to_dict(),
                    "follow_no_burn": idle.to_dict(),
                },
            }
        )
        c.step(idle)
    state = {"day_records": records, "day_snapshot": snap, "pending_step": 23}
    regret = learn(state, c.observe())["regret"]
    better = "follow_no_burn" if worse == "follow" else "follow"
    assert regret[better] == 0.0
    assert regret[worse] > 0.01


def test_make_decision_sets_every_field_as_the_constructor_does():
    # make_decision fills the frozen Decision's __dict__ directly (not through __init__).
    from dataclasses import fields

    from energy_agents.coordination.types import Decision, make_decision
    from energy_agents.sim.levers import Levers

    lv = Levers(procurement_kwh=1.0)
    got = make_decision("none", None, lv, "No coordination.", followed=["a"], data={"k": 1})
    assert set(vars(got)) == {f.name for f in fields(Decision)}
    want = Decision("No coordination.", {}, "", lv, "none", 0, ("a",), (), (), {"k": 1})
    assert got == want
