"""``POST /receive`` has two paths: the async one of the RSGI app (``serve/rsgi.py``, what ``serve``
runs by default) and the Flask view (every post under a WSGI server, granian's included). Both
must answer every request alike, good or bad, and store the same: each request here goes, byte
for byte, to a real granian server and to the Flask view (each its own store)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from energy_agents.client.signing import sign_headers
from energy_agents.server.store import StoreError
from server_fixtures import (
    ServerProcess,
    agents_map,
    canonical,
    identity,
    make_app,
    postgres_schema,
    recommendation,
)

COMPARED_HEADERS = (
    "Content-Type",
    "Content-Length",
    "X-Duplicate",
    "WWW-Authenticate",
    "Retry-After",
)


@pytest.fixture(
    name="urls", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def urls_fixture(request, tmp_path) -> Iterator[tuple[str, str]]:
    """Two empty stores of the same kind."""
    if request.param == "sqlite":
        yield str(tmp_path / "fast.sqlite"), str(tmp_path / "flask.sqlite")
    else:
        with postgres_schema() as a, postgres_schema() as b:
            yield a, b


def signed(payload: Any, name: str, *, signer: str | None = None) -> tuple[bytes, dict]:
    body = payload if isinstance(payload, bytes) else canonical(payload)
    headers = {"Content-Type": "application/json"}
    headers.update(sign_headers(identity(signer or name), "POST", "/receive", body))
    return body, headers


def answer(app, body: bytes, headers: dict, method: str = "POST") -> tuple:
    """Status, compared headers and JSON of an answer, from an app (test client) or a server
    (a ``ServerProcess``, through HTTP)."""
    if isinstance(app, ServerProcess):
        r = requests.request(method, app.url + "/receive", data=body, headers=headers, timeout=10)
        status, data = r.status_code, r.json()
    else:
        r = app.test_client().open("/receive", method=method, data=body, headers=headers)
        status, data = r.status_code, r.get_json(silent=True)
    if isinstance(data, dict) and re.fullmatch(r"[0-9a-f]{32}", str(data.get("message_id"))):
        data["message_id"] = "<made by the server>"
    return status, {h: r.headers.get(h) for h in COMPARED_HEADERS}, data


def stored(app) -> list[dict]:
    if isinstance(app, ServerProcess):
        items = requests.get(app.url + "/messages?limit=1000", timeout=10).json()
    else:
        items = app.test_client().get("/messages?limit=1000").get_json()
    # arrival times differ between the two servers (a second boundary may fall between them)
    wall = ("received_at", "timestamp", "id")
    return [{k: v for k, v in m.items() if k not in wall} for m in items]


@pytest.mark.parametrize("interface", ["rsgi", "wsgi"])
def test_served_paths_answer_like_the_flask_view(urls, tmp_path, interface):
    """Through granian, as ``serve`` runs: the RSGI app's async path (the default) and its
    WSGI interface (the Flask view), against the Flask view; then the verbs."""
    agents = tmp_path / "agents.json"
    agents.write_text(json.dumps(agents_map()))
    server = ServerProcess(
        tmp_path,
        urls[0],
        *("--interface", interface, "--agents-file", str(agents), "--max-body", "4096"),
    ).start()
    flask = make_app(urls[1], max_content_length=4096)
    try:
        for what, body, headers, status in signed_cases():
            a, b = answer(server, body, headers), answer(flask, body, headers)
            assert a == b, what
            assert a[0] == status, (what, a)
        for method in ("GET", "PUT"):  # Flask answers both (405)
            assert answer(server, b"", {}, method) == answer(flask, b"", {}, method)
        assert stored(server) == stored(flask)
        assert len(stored(server)) == 3
    finally:
        server.stop()
        flask.extensions["energy_agents"].store.close()


REC = recommendation("grid_trader", 3, "Low price: buy.", message_id="grid_trader:3:a")
BATCH = [
    recommendation("grid_trader", 4, "buy", message_id="grid_trader:4:a"),
    recommendation("grid_trader", 5, "sell", message_id="grid_trader:5:a"),
]


def signed_cases() -> list[tuple[str, bytes, dict, int]]:
    """(what, body, headers, expected status), in order: later cases see the earlier ones."""
    rec = signed(REC, "grid_trader")
    cases = [
        ("a signed recommendation", *rec, 200),
        ("the same request again: a replayed nonce", *rec, 409),
        ("the same message, signed again: a duplicate", *signed(REC, "grid_trader"), 200),
        ("its id with another body", *signed({**REC, "message": "sell"}, "grid_trader"), 409),
        ("a signed batch", *signed(BATCH, "grid_trader"), 200),
        (
            "a batch with a bad item",
            *signed([BATCH[0], {"agent_name": "grid_trader"}], "grid_trader"),
            400,
        ),
        ("unsigned", canonical(REC), {"Content-Type": "application/json"}, 401),
        ("tampered body", rec[0].replace(b"buy", b"BUY"), rec[1], 401),
        ("signed by an unknown agent", *signed(REC, "grid_trader", signer="stranger"), 403),
        ("another agent's name", *signed({**REC, "agent_name": "p2p_trader"}, "grid_trader"), 403),
        ("not JSON", *signed(b"{nope", "grid_trader"), 400),
        ("NaN", *signed(b'{"agent_name": "grid_trader", "message": NaN}', "grid_trader"), 400),
        ("an empty body", *signed(b"", "grid_trader"), 400),
        ("a string", *signed(b'"hello"', "grid_trader"), 400),
        ("a bad step", *signed({**REC, "step": -1, "message_id": "x"}, "grid_trader"), 400),
        ("a message that is no string", *signed({**REC, "message": 5}, "grid_trader"), 400),
        ("oversized", *signed({**REC, "message": "x" * 5000}, "grid_trader"), 413),
    ]
    body, headers = signed(REC, "grid_trader")
    cases.append(("text/plain", body, {**headers, "Content-Type": "text/plain"}, 415))
    return cases


def test_served_path_answers_unsigned_posts_like_the_flask_view(urls, tmp_path):
    seed = {"agent_name": "grid_trader", "message": "deficit", "timestamp": "2025-03-22 19:39:10"}
    plain = {"Content-Type": "application/json"}
    cases = [
        (canonical(seed), plain, 200),  # the seed's post: the server makes the message id
        (canonical({**seed, "message_id": "m1"}), plain, 200),
        (canonical({**seed, "message_id": "m1"}), plain, 200),  # a duplicate
        (canonical({**seed, "message_id": "m1", "message": "surplus"}), plain, 409),
        (canonical({"agent_name": "grid_trader"}), plain, 400),
        (canonical(seed), {"Content-Type": "application/merge-patch+json"}, 200),
        (canonical(seed), {"Content-Type": "application/json; charset=utf-8"}, 200),
    ]
    server = ServerProcess(tmp_path, urls[0], "--allow-unsigned", "--max-body", "4096").start()
    flask = make_app(urls[1], allow_unsigned=True, max_content_length=4096)
    try:
        for i, (body, headers, status) in enumerate(cases):
            a, b = answer(server, body, headers), answer(flask, body, headers)
            assert a == b, i
            assert a[0] == status, (i, a)
        assert a[2]["signed"] is False
        assert len(stored(server)) == len(stored(flask)) == 4
    finally:
        server.stop()
        flask.extensions["energy_agents"].store.close()


def test_flask_view_counts_metrics(tmp_path):
    app = make_app(str(tmp_path / "s.sqlite"), allow_unsigned=True)
    client = app.test_client()
    r = client.post("/receive", json={"agent_name": "grid_trader", "message": "deficit"})
    assert r.status_code == 200
    client.post("/receive", data=b"{", headers={"Content-Type": "application/json"})
    metrics = client.get("/metrics").get_data(as_text=True)
    for status in (200, 400):
        line = (
            f'energy_agents_http_requests_total{{endpoint="/receive",method="POST",'
            f'status="{status}"}} 1.0'
        )
        assert line in metrics
    assert "energy_agents_commit_group_size_count 1.0" in metrics
    app.extensions["energy_agents"].store.close()


@pytest.mark.parametrize(
    ("error", "status"), [(StoreError("database is down"), 503), (RuntimeError("bug"), 500)]
)
def test_flask_view_answers_failures_as_the_one_refusal_path(tmp_path, error, status):
    from energy_agents.server.core.json_response import error_answer

    app = make_app(str(tmp_path / "a.sqlite"), max_content_length=4096)

    def fail(*args, **kwargs):
        raise error

    app.extensions["energy_agents"].store.messages.add = fail
    body, headers = signed(REC, "grid_trader")
    got = answer(app, body, headers)
    want_status, want_body, _ = error_answer(error, "POST", "/receive")
    assert (got[0], got[2]) == (want_status, want_body) and got[0] == status
    assert json.dumps(got[2]).count("database") == (1 if status == 503 else 0)
    app.extensions["energy_agents"].store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("interface", ["rsgi", "wsgi"])
def test_served_paths_answer_a_lost_database_with_503(tmp_path, interface):
    """A real failure: the server's PostgreSQL connections are terminated. The next post is
    answered 503 with the same body as Flask's (``error_answer``), nothing is stored, and the
    one after it reconnects."""
    import psycopg

    from energy_agents.server.core.json_response import error_answer

    with postgres_schema() as url:
        name = f"ea_lost_{interface}"
        server = ServerProcess(
            tmp_path,
            f"{url}&application_name={name}",
            *("--interface", interface, "--allow-unsigned"),
            workers=1,
        ).start()
        try:

            def post(mid: str) -> requests.Response:
                body = {"agent_name": "grid_trader", "message": "deficit", "message_id": mid}
                return requests.post(server.url + "/receive", json=body, timeout=10)

            assert post("before").status_code == 200
            with psycopg.connect(url, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                ).fetchall()
            assert killed
            lost = post("lost")
            status, body, headers = error_answer(StoreError("gone"), "POST", "/receive")
            assert (lost.status_code, lost.json()) == (status, body)
            assert lost.headers["Retry-After"] == headers["Retry-After"]
            assert post("after").status_code == 200
            for _ in range(3):  # the reading thread's connection was terminated too
                r = requests.get(server.url + "/messages", timeout=10)
                if r.status_code == 200:
                    break
            assert [m["message_id"] for m in r.json()] == ["before", "after"]
        finally:
            server.stop()
