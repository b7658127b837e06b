"""The seed strategy reproduces the seed README's /aggregate example."""

from __future__ import annotations

from energy_agents.advisors.types import Recommendation
from energy_agents.coordination.registry import make_strategy
from energy_agents.coordination.seed import (
    ACTION_CHARGE,
    ACTION_DEMAND,
    ACTION_MAINTAIN,
    count_keywords,
    seed_action,
)

README_MESSAGES = {
    "grid_trader": "Low purchase price detected (0.33 CT/kWh). Recommend buying energy to cover deficits.",
    "token_economist": "High demand detected: Increasing token burn rate.",
    "storage_optimizer": "storage_A optimal (65.35%). No action needed. | storage_B undercharged (29.39%)."
    " Recommend increasing charging.",
    "demand_forecaster": "Forecast indicates a deficit (consumption: 0.48 kWh, production: 0.34 kWh)."
    " Recommend adjusting procurement.",
    "p2p_trader": "No profitable P2P trade available at the moment.",
}
README_DETAILS = {
    "high_demand_count": 5,
    "deficit_count": 6,
    "surplus_count": 9,
    "undercharged_count": 5,
    "optimal_count": 8,
}


def test_readme_messages_give_the_readme_action():
    counts = count_keywords(README_MESSAGES.values())
    assert counts == {
        "high_demand_count": 1,
        "deficit_count": 2,
        "surplus_count": 0,
        "undercharged_count": 1,
        "optimal_count": 1,
    }
    assert seed_action(counts) == "Increase token burn rate and adjust procurement."


def test_readme_details_give_the_readme_action():
    assert seed_action(README_DETAILS) == ACTION_DEMAND


def test_the_other_two_actions():
    base = dict.fromkeys(README_DETAILS, 0)
    assert seed_action({**base, "surplus_count": 2, "deficit_count": 1}) == ACTION_CHARGE
    assert seed_action({**base, "undercharged_count": 2, "optimal_count": 1}) == ACTION_CHARGE
    assert seed_action({**base, "optimal_count": 2}) == ACTION_MAINTAIN
    assert seed_action(base) == ACTION_MAINTAIN


def test_count_keywords_is_case_insensitive_and_counts_occurrences():
    c = count_keywords(["HIGH DEMAND and high demand", "Surplus, surplus; deficits"])
    assert c["high_demand_count"] == 2 and c["surplus_count"] == 2 and c["deficit_count"] == 1
    assert set(count_keywords([])) == set(README_DETAILS)


def test_seed_strategy_without_observation_decides_from_messages():
    recs = [Recommendation(a, 0, m) for a, m in README_MESSAGES.items()]
    decision, state = make_strategy("seed").decide(None, recs, {})
    assert decision.action == ACTION_DEMAND
    assert dict(decision.details) == count_keywords(README_MESSAGES.values())
    assert decision.parameters.burn_rate_ct_per_kwh > 0
    assert decision.missing == ()
    assert state == {}
    d = decision.to_dict()
    assert {"action", "details", "timestamp"} <= set(d)
