"""The chargers' session history in the observation and the forecaster's EV availability and
session need (``advisors/ev_forecast``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from energy_agents.advisors import demand_forecaster, ev_forecast
from energy_agents.runner.batch import apply_decision
from energy_agents.scenarios import load_scenario
from energy_agents.server.core.validation import validate_observation
from energy_agents.sim.community import Community
from energy_agents.sim.levers import Levers
from energy_agents.sim.observation import EV_HISTORY_DAYS, Observation

EV_MINI = Path(__file__).parent / "fixtures" / "citylearn_ev_mini"


def _obs(connected: np.ndarray, energy: np.ndarray | None = None, **now) -> Observation:
    """An observation of one or more chargers with the given history (rows: past steps)."""
    h, n = connected.shape
    fields = {
        "ev_names": tuple(f"c{k}" for k in range(n)),
        "ev_connected": np.zeros(n),
        "ev_steps_left": np.zeros(n),
        "hist_ev_connected": connected.astype(float),
        "hist_ev_energy_kwh": np.zeros((h, n)) if energy is None else energy,
    }
    fields.update({k: np.asarray(v, dtype=float) for k, v in now.items()})
    base = Community(load_scenario(f"citylearn:{EV_MINI}", days=1)).observe()
    return Observation.from_dict(
        {**base.to_dict(), **{k: _plain(v) for k, v in fields.items()}, "steps_per_day": 4}
    )


def _plain(v):
    return v.tolist() if isinstance(v, np.ndarray) else list(v)


def test_availability_is_the_weighted_share_of_past_days_at_that_time():
    spd = 4
    # Two days of 4 steps: plugged in at steps 2-3 of both days, and at step 0 of day 1 only.
    day1, day2 = [1, 0, 1, 1], [0, 0, 1, 1]
    obs = _obs(np.array([day1 + day2]).T)
    p = ev_forecast.availability(obs, spd)
    w1, w2 = 1.0, 0.8  # yesterday, the day before
    assert p[0].tolist() == pytest.approx([w2 / (w1 + w2), 0.0, 1.0, 1.0])
    # Without history: 0; an EV plugged in now: 1 until it leaves, then the profile.
    assert ev_forecast.availability(_obs(np.zeros((0, 1))), 3).tolist() == [[0.0, 0.0, 0.0]]
    now = _obs(np.array([day1 + day2]).T, ev_connected=[1.0], ev_steps_left=[2.0])
    assert ev_forecast.availability(now, spd)[0].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    now = _obs(np.array([day1 + day2]).T, ev_connected=[1.0], ev_steps_left=[1.0])
    assert ev_forecast.availability(now, spd)[0, 1] == 0.0


def test_session_need_from_completed_sessions_only():
    conn = np.array([[1, 1, 0, 1, 1, 1, 0, 0, 1, 1]]).T  # cut at the start, complete, ongoing
    energy = np.array([[5, 9, 0, 10, 14, 22, 0, 0, 3, 8]], dtype=float).T
    assert ev_forecast.session_need_kwh(_obs(conn, energy)).tolist() == [12.0]
    assert ev_forecast.session_need_kwh(_obs(conn[:2], energy[:2])).tolist() == [0.0]


def test_the_observation_carries_the_chargers_week_and_the_forecaster_uses_it():
    s = load_scenario(f"citylearn:{EV_MINI}")
    c = Community(s)
    seen = []
    while c.t < 9 * s.steps_per_day:
        obs = c.observe()
        seen.append(obs.ev_energy_kwh.copy())
        apply_decision(c, Levers(storage_follow=True))
    obs = c.observe()
    t, lo = c.t, c.t - EV_HISTORY_DAYS * s.steps_per_day
    np.testing.assert_array_equal(obs.hist_ev_connected, s.evs.connected[lo:t])
    np.testing.assert_array_equal(obs.hist_ev_energy_kwh, np.array(seen[lo:t]))
    assert obs.hist_ev_connected.shape == (EV_HISTORY_DAYS * s.steps_per_day, s.evs.n)
    validate_observation(json.loads(json.dumps(obs.to_dict())))  # the server's door takes it
    back = Observation.from_dict(json.loads(json.dumps(obs.to_dict())))
    np.testing.assert_array_equal(back.hist_ev_energy_kwh, obs.hist_ev_energy_kwh)
    first = Community(s).observe()
    assert first.hist_ev_connected.shape == (0, s.evs.n)
    data = demand_forecaster.advise(obs).data
    assert set(data["ev_available"]) == set(s.evs.names)
    horizon = len(data["load_kwh"])
    for name, p in data["ev_available"].items():
        assert len(p) == horizon and all(0.0 <= x <= 1.0 for x in p)
        assert data["ev_session_need_kwh"][name] >= 0.0
    # A charger plugged in now is available until its EV leaves.
    k = int(np.argmax(obs.ev_connected))
    if obs.ev_connected[k] > 0:
        left = int(obs.ev_steps_left[k])
        assert data["ev_available"][s.evs.names[k]][: min(left, horizon)] == [1.0] * min(
            left, horizon
        )
    # Without chargers the message has no EV part.
    assert (
        "ev_available"
        not in demand_forecaster.advise(
            Community(load_scenario("synthetic", members=3, days=2)).observe()
        ).data
    )
