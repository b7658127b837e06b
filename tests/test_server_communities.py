"""Several communities on one server: ``?community=`` at the door (names checked, a server
that serves only some), the seed's plain requests in the default community."""

from __future__ import annotations

import pytest

from server_fixtures import make_app, observation_dict, signed_post


@pytest.fixture
def client(tmp_path):
    app = make_app(
        str(tmp_path / "s.sqlite"), allow_unsigned=True, communities=["north", "default"]
    )
    yield app.test_client()
    app.extensions["energy_agents"].store.close()


def test_the_seed_post_is_in_the_default_community(client):
    r = client.post("/receive", json={"agent_name": "grid_trader", "message": "deficit"})
    assert r.status_code == 200 and "community" not in r.get_json()
    assert [m["message"] for m in client.get("/messages").get_json()] == ["deficit"]
    assert client.get("/messages?community=north").get_json() == []
    assert client.get("/messages?community=default").get_json()[0]["message"] == "deficit"
    assert client.get("/communities").get_json() == {
        "communities": ["default"],
        "served": ["north", "default"],
    }


@pytest.mark.parametrize(
    ("query", "status"),
    [("community=south", 404), ("community=a%20b", 400), ("community=-x", 400),
     ("community=north&community=north", 400), ("community=" + "n" * 65, 400)],
)  # fmt: skip
def test_a_bad_or_unserved_community_is_refused_naming_it(client, query, status):
    for r in (
        client.post(f"/receive?{query}", json={"agent_name": "grid_trader", "message": "x"}),
        client.get(f"/messages?{query}"),
        client.get(f"/aggregate?{query}"),
        client.get(f"/state?{query}"),
        client.get(f"/kpis?{query}"),
        client.get(f"/series?{query}"),
        client.get(f"/decisions?{query}"),
    ):
        assert r.status_code == status, r.request.path
        assert r.get_json()["field"] == "community"
    assert client.get("/messages").get_json() == []  # nothing stored


def test_signed_state_and_decision_per_community(client):
    path = "/state?community=north"
    r = signed_post(client, path, {"observation": observation_dict(0)}, "runner")
    assert r.status_code == 200
    assert client.get("/state").status_code == 404  # the default community has none
    assert client.get("/state?community=north").get_json()["step"] == 0
    r = signed_post(client, "/decisions?community=north", {"step": 0, "strategy": "seed"}, "runner")
    assert r.status_code == 200 and r.get_json()["community"] == "north"
    assert [d["step"] for d in client.get("/decisions?community=north").get_json()] == [0]
    assert client.get("/decisions").get_json() == []
    # signed for one path and query, sent to another: refused
    body = {"observation": observation_dict(1)}
    from energy_agents.client.signing import sign_headers
    from server_fixtures import canonical, identity

    headers = sign_headers(identity("runner"), "POST", "/state", canonical(body))
    headers["Content-Type"] = "application/json"
    r = client.post("/state?community=north", data=canonical(body), headers=headers)
    assert r.status_code == 401 and r.get_json()["field"] == "X-Agent-Signature"
