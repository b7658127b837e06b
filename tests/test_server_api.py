"""Every endpoint through the Flask test client, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.coordination import STRATEGIES
from energy_agents.server.store.migrations import LATEST_VERSION
from server_fixtures import (
    make_app,
    observation_dict,
    recommendation,
    signed_post,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)

SEED_MESSAGES = [
    {
        "agent_name": "grid_trader",
        "message": "Low purchase price detected (0.33 CT/kWh). Recommend buying energy to cover deficits.",
        "timestamp": "2025-03-22 19:39:10",
    },
    {
        "agent_name": "token_economist",
        "message": "High demand detected: Increasing token burn rate.",
        "timestamp": "2025-03-22 19:39:10",
    },
    {
        "agent_name": "storage_optimizer",
        "message": "storage_A optimal (65.35%). No action needed. | storage_B undercharged (29.39%). Recommend increasing charging.",
        "timestamp": "2025-03-22 19:39:10",
    },
    {
        "agent_name": "demand_forecaster",
        "message": "Forecast indicates a deficit (consumption: 0.48 kWh, production: 0.34 kWh). Recommend adjusting procurement.",
        "timestamp": "2025-03-22 19:39:10",
    },
    {
        "agent_name": "p2p_trader",
        "message": "No profitable P2P trade available at the moment.",
        "timestamp": "2025-03-22 19:39:10",
    },
]


@pytest.fixture
def client(store_url):
    app = make_app(store_url, allow_unsigned=True, allow_unsigned_runner=True)
    yield app.test_client()
    app.extensions["energy_agents"].store.close()


@pytest.fixture
def signed_client(store_url):
    app = make_app(store_url)
    yield app.test_client()
    app.extensions["energy_agents"].store.close()


def stored(client) -> list[dict]:
    return client.get("/messages?limit=1000").get_json()


# ----------------------------------------------------------------------------- seed contract
def test_welcome_text(client):
    r = client.get("/")
    assert r.status_code == 200
    assert (
        r.data.decode()
        == "Welcome to the AI Manager API server. Use POST /receive to send messages."
    )


def test_seed_flow(client):
    for m in SEED_MESSAGES:
        r = client.post("/receive", json=m)
        assert r.status_code == 200
        body = r.get_json()
        assert body["status"] == "success" and body["message"] == "Message received"
        assert body["signed"] is False and body["message_id"]
    msgs = client.get("/messages").get_json()
    assert [
        {k: m[k] for k in ("agent_name", "message", "timestamp")} for m in msgs
    ] == SEED_MESSAGES
    agg = client.get(
        "/aggregate?strategy=seed" if "seed" in STRATEGIES else "/aggregate"
    ).get_json()
    assert set(agg) >= {"action", "details", "timestamp", "parameters", "strategy", "step"}
    assert agg["details"] == {
        "high_demand_count": 1,
        "deficit_count": 2,
        "surplus_count": 0,
        "undercharged_count": 1,
        "optimal_count": 1,
    }
    assert sorted(agg["message_ids"]) == sorted(m["message_id"] for m in msgs)
    assert agg["window"]["mode"] == "recent" and agg["step"] is None
    if "seed" in STRATEGIES:
        assert agg["action"] == "Increase token burn rate and adjust procurement."


def test_post_without_message_never_breaks_aggregate(client):
    """The seed's bug: one post without "message" made /aggregate answer 500 forever."""
    r = client.post("/receive", json={"agent_name": "grid_trader", "timestamp": "x"})
    assert r.status_code == 400
    assert r.get_json() == {"error": "bad request", "field": "message", "reason": "missing"}
    assert stored(client) == []
    client.post("/receive", json=SEED_MESSAGES[1])
    for name in STRATEGIES:
        r = client.get(f"/aggregate?strategy={name}")
        # 409: a strategy that needs an observation (none was published here)
        assert r.status_code == (200 if name in ("none", "seed", "weighted") else r.status_code)
        assert r.status_code in (200, 409), r.get_json()


def test_recent_window_is_latest_per_agent_not_all_history(client):
    client.post("/receive", json={"agent_name": "demand_forecaster", "message": "deficit deficit"})
    client.post("/receive", json={"agent_name": "demand_forecaster", "message": "surplus"})
    agg = client.get("/aggregate").get_json()
    assert agg["details"]["deficit_count"] == 0 and agg["details"]["surplus_count"] == 1
    assert len(agg["message_ids"]) == 1


def test_recent_window_forgets_old_messages(store_url, monkeypatch):
    import energy_agents.server.core.aggregate as aggregate

    app = make_app(store_url, allow_unsigned=True, aggregate_window_s=60.0)
    c = app.test_client()
    c.post("/receive", json={"agent_name": "demand_forecaster", "message": "deficit"})
    assert c.get("/aggregate").get_json()["details"]["deficit_count"] == 1
    later = time.time() + 61.0
    monkeypatch.setattr(aggregate.time, "time", lambda: later)
    assert c.get("/aggregate").get_json()["details"]["deficit_count"] == 0


# ----------------------------------------------------------------------------- /receive
def test_structured_recommendation_and_idempotent_retry(client):
    rec = recommendation(
        "storage_optimizer", 4, "charge", levers={"storage_setpoints": {"storage_A": 0.5}}
    )
    rec["message_id"] = "storage_optimizer:4:abc"
    first = client.post("/receive", json=rec)
    again = client.post("/receive", json=rec)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert again.headers.get("X-Duplicate") == "true"
    msgs = stored(client)
    assert len(msgs) == 1
    m = msgs[0]
    assert m["step"] == 4 and m["levers"] == {"storage_setpoints": {"storage_A": 0.5}}
    assert m["message_id"] == "storage_optimizer:4:abc" and m["schema_version"] == 1
    changed = dict(rec, message="discharge")
    r = client.post("/receive", json=changed)
    assert r.status_code == 409 and r.get_json()["field"] == "message_id"
    assert len(stored(client)) == 1


def test_batch(client):
    batch = [recommendation(a, 1, f"from {a}", message_id=f"{a}:1") for a in AGENT_NAMES]
    r = client.post("/receive", json=batch)
    assert r.status_code == 200
    body = r.get_json()
    assert body["count"] == 5 and [m["message_id"] for m in body["messages"]] == [
        f"{a}:1" for a in AGENT_NAMES
    ]
    assert client.post("/receive", json=batch).get_json() == body
    assert len(stored(client)) == 5


def test_batch_with_one_bad_item_stores_nothing(client):
    batch = [
        recommendation("grid_trader", 1, "ok"),
        {"agent_name": "grid_trader", "step": -1, "message": "x"},
    ]
    r = client.post("/receive", json=batch)
    assert r.status_code == 400 and r.get_json()["field"] == "[1].step"
    assert stored(client) == []


def test_oversized_batch_and_body(store_url):
    app = make_app(store_url, allow_unsigned=True, max_batch=3, max_content_length=2048)
    c = app.test_client()
    r = c.post("/receive", json=[SEED_MESSAGES[0]] * 4)
    assert r.status_code == 413 and r.get_json()["field"] == "body"
    r = c.post("/receive", json={"agent_name": "a", "message": "x" * 5000})
    assert r.status_code == 413 and r.get_json()["field"] == "body"
    assert c.get("/messages").get_json() == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"not json", "application/json", 400, "body"),
        (b"", "application/json", 400, "body"),
        (b'{"agent_name": "a", "message": "m"}', "text/plain", 415, "Content-Type"),
        (b"[]", "application/json", 400, "body"),
        (b"42", "application/json", 400, "body"),
        (b'"text"', "application/json", 400, "body"),
        (b'{"message": "m"}', "application/json", 400, "agent_name"),
        (b'{"agent_name": 5, "message": "m"}', "application/json", 400, "agent_name"),
        (b'{"agent_name": "a", "message": ["m"]}', "application/json", 400, "message"),
        (
            b'{"agent_name": "a", "message": "m", "timestamp": true}',
            "application/json",
            400,
            "timestamp",
        ),
        (b'{"agent_name": "a", "message": "m", "step": "3"}', "application/json", 400, "step"),
        (
            b'{"agent_name": "a", "message": "m", "step": 1, "confidence": 2}',
            "application/json",
            400,
            "confidence",
        ),
        (
            b'{"agent_name": "a", "message": "m", "step": 1, "levers": {"warp": 1}}',
            "application/json",
            400,
            "levers.warp",
        ),
        (
            b'{"agent_name": "a", "message": "m", "step": 1, "schema_version": 2}',
            "application/json",
            400,
            "schema_version",
        ),
        (b'{"agent_name": "a", "message": "m\\u0000"}', "application/json", 400, "message"),
        (b'{"agent_name": "a", "message": "\\ud800"}', "application/json", 400, "message"),
        (
            b'{"agent_name": "a", "message": "m", "step": 1, "expected_saving_ct": NaN}',
            "application/json",
            400,
            "body",
        ),
        (
            b'{"agent_name": "a", "message": "m", "step": 1, "expected_saving_ct": 1e999}',
            "application/json",
            400,
            "expected_saving_ct",
        ),
        (
            b'{"agent_name": "a", "message": "m", "step": 99999999999999999999999}',
            "application/json",
            400,
            "step",
        ),
        (b"\xff\xfe", "application/json", 400, "body"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "body"),
    ],
)
def test_bad_receive_bodies(client, body, content_type, status, field):
    r = client.post("/receive", data=body, headers={"Content-Type": content_type})
    assert r.status_code == status, r.get_data(as_text=True)
    err = r.get_json()
    assert set(err) == {"error", "field", "reason"} and err["field"] == field and err["reason"]
    assert stored(client) == []


def test_plain_message_gets_the_current_step(client):
    r = client.post("/state", json={"observation": observation_dict(2), "record": None, "kpis": {}})
    assert r.status_code == 200
    r = client.post("/receive", json=SEED_MESSAGES[1])
    assert r.get_json()["step"] == 2
    agg = client.get("/aggregate").get_json()
    assert agg["step"] == 2 and agg["window"] == {"mode": "step", "step": 2}
    assert agg["details"]["high_demand_count"] == 1


# ----------------------------------------------------------------------------- /messages
def test_messages_filters_and_paging(client):
    for step in range(3):
        client.post("/receive", json=[recommendation(a, step, f"{a} {step}") for a in AGENT_NAMES])
    assert len(client.get("/messages?step=1").get_json()) == 5
    only = client.get("/messages?agent=grid_trader").get_json()
    assert [m["step"] for m in only] == [0, 1, 2] and {m["agent_name"] for m in only} == {
        "grid_trader"
    }
    assert len(client.get("/messages?agent=grid_trader&step=2").get_json()) == 1
    # paging: 15 messages by 4
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get("/messages?limit=4" + (f"&cursor={cursor}" if cursor else ""))
        page = r.get_json()
        seen += page
        pages += 1
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in r.headers
            break
        assert f"cursor={cursor}" in r.headers["Link"] and 'rel="next"' in r.headers["Link"]
    assert pages == 4 and len(seen) == 15 and len({m["message_id"] for m in seen}) == 15
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids)
    desc = client.get("/messages?order=desc&limit=3").get_json()
    assert [m["id"] for m in desc] == sorted(ids, reverse=True)[:3]
    # since: received_at, unix seconds or ISO 8601
    mid = seen[7]["received_at"]
    after = client.get(f"/messages?since={mid}&limit=1000").get_json()
    assert after and all(m["received_at"] >= mid for m in after)
    assert {m["id"] for m in after} >= {m["id"] for m in seen[8:]}
    assert client.get("/messages?since=2099-01-01T00:00:00").get_json() == []
    assert len(client.get("/messages?since=1970-01-01T00:00:00Z").get_json()) == 15


def test_messages_default_cap(client):
    client.post("/receive", json=[SEED_MESSAGES[0]] * 100)
    client.post("/receive", json=[SEED_MESSAGES[1]] * 20)
    r = client.get("/messages")
    assert len(r.get_json()) == 100 and r.headers["X-Next-Cursor"]
    assert len(client.get("/messages?limit=1000").get_json()) == 120


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("cursor=-1", "cursor"),
        ("cursor=abc", "cursor"),
        ("step=-3", "step"),
        ("step=1.5", "step"),
        ("since=yesterday", "since"),
        ("since=nan", "since"),
        ("order=sideways", "order"),
    ],
)
def test_bad_paging_params(client, query, field):
    r = client.get(f"/messages?{query}")
    assert r.status_code == 400 and r.get_json()["field"] == field


# ----------------------------------------------------------------------------- /state, /series, /kpis
def test_state_series_kpis(client):
    assert client.get("/state").status_code == 404
    assert client.get("/kpis").get_json() == {}
    assert client.get("/series").get_json() == []
    for step in range(4):
        record = (
            None
            if step == 0
            else {"step": step - 1, "tokens_spent_ct": float(step), "soc": {"storage_A": 0.5}}
        )
        kpis = {"tokens_spent_ct": float(step), "baseline_tokens_spent_ct": 2.0 * step}
        r = client.post(
            "/state", json={"observation": observation_dict(step), "record": record, "kpis": kpis}
        )
        assert r.status_code == 200 and r.get_json()["step"] == step
    state = client.get("/state").get_json()
    assert state["step"] == 3 and state["observation"] == observation_dict(3)
    assert client.get("/kpis").get_json() == {
        "tokens_spent_ct": 3.0,
        "baseline_tokens_spent_ct": 6.0,
    }
    series = client.get("/series").get_json()
    assert [r["step"] for r in series] == [0, 1, 2]
    assert [r["step"] for r in client.get("/series?since_step=2").get_json()] == [2]
    r = client.get("/series?limit=2")
    assert len(r.get_json()) == 2 and r.headers["X-Next-Cursor"] == "2"
    # a new run from step 1 drops the records of the other trajectory
    client.post("/state", json={"observation": observation_dict(1), "record": {"step": 0, "x": 1}})
    assert client.get("/series").get_json() == [{"step": 0, "x": 1}]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "observation"),
        ({"observation": []}, "observation"),
        ({"observation": {"step": 0}}, "observation.n_steps"),
        ({"observation": {"step": -1}}, "observation.step"),
        ({"observation": "obs"}, "observation"),
        ({"observation": None, "record": {}}, "observation"),
    ],
)
def test_bad_state(client, payload, field):
    r = client.post("/state", json=payload)
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert client.get("/state").status_code == 404


def test_bad_state_record(client):
    r = client.post("/state", json={"observation": observation_dict(1), "record": {"x": 1}})
    assert r.status_code == 400 and r.get_json()["field"] == "record.step"
    r = client.post("/state", json={"observation": observation_dict(1), "kpis": [1]})
    assert r.status_code == 400 and r.get_json()["field"] == "kpis"


# ----------------------------------------------------------------------------- /aggregate, /decisions
def test_aggregate_step_window_and_state(client):
    strategy = "weighted" if "weighted" in STRATEGIES else "none"
    for step in range(3):
        client.post("/state", json={"observation": observation_dict(step)})
        batch = [
            recommendation(a, step, "surplus" if step else "deficit", message_id=f"{a}:{step}")
            for a in AGENT_NAMES
        ]
        client.post("/receive", json=batch)
        preview = client.get(f"/aggregate?strategy={strategy}").get_json()
        assert preview["stored"] is False and "id" not in preview
        r = client.post("/decisions", json={"step": step, "strategy": strategy})
        assert r.status_code == 200, r.get_json()
        agg = r.get_json()
        assert agg["step"] == step and agg["strategy"] == strategy
        assert sorted(agg["message_ids"]) == sorted(f"{a}:{step}" for a in AGENT_NAMES)
        assert agg["missing"] == []
        read = client.get(f"/aggregate?strategy={strategy}").get_json()
        assert read.pop("stored") is True and read == agg  # GET reads the stored decision
        assert {
            k: v for k, v in preview.items() if k not in ("stored", "window", "decided_at")
        } == {k: v for k, v in agg.items() if k not in ("id", "decided_at", "window")}
    first = client.get(f"/aggregate?strategy={strategy}&step=1").get_json()
    again = client.post("/decisions", json={"step": 1, "strategy": strategy}).get_json()
    assert first.pop("stored") is True and first == again  # decided once
    assert first["details"]["surplus_count"] == 5
    assert (
        client.get(f"/aggregate?strategy={strategy}&step=0").get_json()["details"]["deficit_count"]
        == 5
    )
    # beyond the published step: refused, nothing decided
    for r in (
        client.get(f"/aggregate?strategy={strategy}&step=40"),
        client.post("/decisions", json={"step": 40, "strategy": strategy}),
    ):
        assert r.status_code == 409 and r.get_json()["field"] == "step"
    decisions = client.get("/decisions").get_json()
    assert [d["step"] for d in decisions] == [2, 1, 0]  # newest first, one per (strategy, step)
    page = client.get("/decisions?limit=2")
    assert len(page.get_json()) == 2
    rest = client.get(f"/decisions?limit=2&cursor={page.headers['X-Next-Cursor']}").get_json()
    assert [d["step"] for d in rest] == [0]
    assert client.get(f"/decisions?strategy={strategy}").status_code == 200


def test_every_registered_strategy_answers(client):
    client.post("/state", json={"observation": observation_dict(0)})
    client.post("/receive", json=[recommendation(a, 0, "deficit") for a in AGENT_NAMES])
    client.post("/receive", json=SEED_MESSAGES[0])
    for name in STRATEGIES:
        r = client.get(f"/aggregate?strategy={name}")
        if name == "optimal":  # perfect foresight needs the whole scenario: not a live strategy
            assert r.status_code == 409 and r.get_json()["field"] == "strategy"
            continue
        assert r.status_code == 200, (name, r.get_json())
        assert r.get_json()["strategy"] == name


@pytest.mark.parametrize("query", ["strategy=nope", "strategy=%00", "step=x", "step=-1"])
def test_bad_aggregate_params(client, query):
    r = client.get(f"/aggregate?{query}")
    assert r.status_code == 400
    assert r.get_json()["field"] in ("strategy", "step")


def test_default_strategy_is_configurable(store_url):
    app = make_app(store_url, allow_unsigned=True, strategy="none")
    assert app.test_client().get("/aggregate").get_json()["strategy"] == "none"


# ----------------------------------------------------------------------------- ops
def test_health_metrics_openapi(client):
    assert client.get("/health").get_json()["status"] == "ok"
    client.post("/receive", json=SEED_MESSAGES[0])
    client.post("/receive", json={"bad": 1})
    text = client.get("/metrics").get_data(as_text=True)
    for status in (200, 400):
        line = rf'^energy_agents_http_requests_total\{{endpoint="/receive",method="POST",status="{status}"[^}}]*\}} 1(\.0)?$'
        assert re.search(line, text, re.M), text
    assert "energy_agents_http_request_duration_seconds_bucket" in text
    assert "energy_agents_messages_stored 1" in text
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/",
        "/receive",
        "/messages",
        "/aggregate",
        "/decisions",
        "/state",
        "/series",
        "/kpis",
        "/health",
        "/metrics",
        "/openapi.json",
    }


def test_unknown_endpoint_and_method_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.get_json()["error"]
    r = client.delete("/receive")
    assert r.status_code == 405 and r.get_json()["error"]


def test_read_token(store_url):
    app = make_app(store_url, allow_unsigned=True, read_token="s3cret")
    c = app.test_client()
    for path in ("/messages", "/aggregate", "/decisions", "/state", "/series", "/kpis", "/metrics"):
        r = c.get(path)
        assert r.status_code == 401 and r.get_json()["field"] == "Authorization", path
        assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get(path, headers={"Authorization": "Bearer s3cret"}).status_code in (200, 404)
    for path in ("/", "/health", "/openapi.json"):
        assert c.get(path).status_code == 200


def test_runner_token_for_state(store_url):
    app = make_app(store_url, runner_token="run-token")
    c = app.test_client()
    payload = {"observation": observation_dict(0)}
    assert c.post("/state", json=payload).status_code == 401
    assert (
        c.post("/state", json=payload, headers={"Authorization": "Bearer bad"}).status_code == 401
    )
    r = c.post("/state", json=payload, headers={"Authorization": "Bearer run-token"})
    assert r.status_code == 200
    # the runner's signature works too; an agent's does not
    assert (
        signed_post(c, "/state", {"observation": observation_dict(1)}, "runner").status_code == 200
    )
    r = signed_post(c, "/state", {"observation": observation_dict(2)}, "grid_trader")
    assert r.status_code == 403 and r.get_json()["field"] == "X-Agent-Address"
    assert c.get("/state").get_json()["step"] == 1


def test_store_reopens_with_data_and_version(store_url):
    app = make_app(store_url, allow_unsigned=True)
    app.test_client().post("/receive", json=SEED_MESSAGES[0])
    store = app.extensions["energy_agents"].store
    assert store.schema_version() == LATEST_VERSION
    store.close()
    app2 = make_app(store_url, allow_unsigned=True)
    assert len(app2.test_client().get("/messages").get_json()) == 1
    text = app2.test_client().get("/metrics").get_data(as_text=True)
    assert "\nenergy_agents_messages_stored 1\n" in text


def test_metrics_without_prometheus_client(store_url, monkeypatch):
    """Without prometheus_client the counts are this worker's, labelled with its pid."""
    import builtins

    real_import = builtins.__import__

    def no_prometheus(name, *args, **kwargs):
        if name.startswith("prometheus_client"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    app = make_app(store_url, allow_unsigned=True)
    c = app.test_client()
    c.post("/receive", json=SEED_MESSAGES[0])
    text = c.get("/metrics").get_data(as_text=True)
    assert re.search(
        r'^energy_agents_http_requests_total\{endpoint="/receive",method="POST",status="200",pid="\d+"\} 1$',
        text,
        re.M,
    ), text
    assert "\nenergy_agents_messages_stored 1\n" in text
