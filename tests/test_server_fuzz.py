"""Property-based fuzzing: every endpoint from /openapi.json (schemathesis) and /receive bodies
and headers (hypothesis). Never a 5xx; nothing stored from a refused request."""

from __future__ import annotations

import contextlib
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.client.signing import SIGNATURE_HEADERS, sign_headers
from server_fixtures import (
    canonical,
    identity,
    make_app,
    observation_dict,
    postgres_schema,
    recommendation,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    database=None,
)


def _seeded(app):
    c = app.test_client()
    c.post("/state", json={"observation": observation_dict(0), "kpis": {"tokens_spent_ct": 1.0}})
    c.post("/receive", json=[recommendation(a, 0, "deficit surplus") for a in AGENT_NAMES])
    c.post("/state", json={"observation": observation_dict(1), "record": {"step": 0, "x": 1.0}})
    c.get("/aggregate")
    return app


def _footprint(app) -> tuple[int, int | None]:
    store = app.extensions["energy_agents"].store
    state = store.states.latest()
    return store.messages.stored(), None if state is None else state["seq"]


def _operations() -> list[str]:
    from energy_agents.server.core.config import ServerConfig
    from energy_agents.server.web.openapi import openapi_document

    doc = openapi_document(ServerConfig())
    return [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzz_app(request, tmp_path_factory):
    """One seeded app per store for all operations (the schema and data are made once)."""
    if request.param == "sqlite":
        url_cm = contextlib.nullcontext(str(tmp_path_factory.mktemp("fuzz") / "server.sqlite"))
    else:
        url_cm = postgres_schema()
    with url_cm as url:
        app = _seeded(make_app(url, allow_unsigned=True, allow_unsigned_runner=True, max_batch=20))
        yield app
        app.extensions["energy_agents"].store.close()


@pytest.mark.parametrize("operation", _operations())
def test_openapi_fuzz(fuzz_app, operation):
    """Positive and negative cases of every documented operation, checked against the
    document (status codes, content types, schemas, headers) and for server errors."""
    from schemathesis import GenerationMode

    app = fuzz_app
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    op = schema.find_operation_by_label(operation)
    assert op is not None, operation
    cases = op.as_strategy() | op.as_strategy(generation_mode=GenerationMode.NEGATIVE)

    @FUZZ
    @given(case=cases)
    def run(case):
        before = _footprint(app)
        response = case.call_and_validate(checks=CHECKS)
        if response.status_code >= 400:
            assert _footprint(app) == before, "a refused request changed the store"

    run()


# ----------------------------------------------------------------------------- /receive
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    "agent_name",
    "message",
    "timestamp",
    "message_id",
    "step",
    "schema_version",
    "levers",
    "confidence",
    "expected_saving_ct",
    "data",
]
field_values = {
    "agent_name": st.sampled_from([*AGENT_NAMES, "", "x" * 70, "a\x00b", "\ud800"]) | json_values,
    "message": st.text(max_size=40) | json_values,
    "step": st.integers(-5, 2**40) | json_values,
    "schema_version": st.sampled_from([1, 2, "1"]) | json_values,
    "levers": st.fixed_dictionaries(
        {},
        optional={
            "procurement_kwh": st.floats(allow_nan=False) | json_values,
            "p2p_price_rule": st.sampled_from(["midpoint", "nope"]),
            "storage_setpoints": st.dictionaries(
                st.text(max_size=5), st.floats(allow_nan=False) | json_values, max_size=3
            ),
        },
    )
    | json_values,
    "confidence": st.floats(allow_nan=False) | json_values,
}
messages = st.fixed_dictionaries(
    {},
    optional={k: field_values.get(k, json_values) for k in KEYS},
)
bodies = (
    messages.map(lambda m: json.dumps(m).encode())
    | st.lists(messages, max_size=25).map(lambda m: json.dumps(m).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | st.sampled_from(
        [
            b"NaN",
            b'{"agent_name": "a", "message": "m", "step": 1, "confidence": Infinity}',
            b"[" * 3000,
        ]
    )
)
header_values = st.text(max_size=40) | st.sampled_from(["", "1e999", "nan", "agent1", "sig1zzz"])
headers = st.fixed_dictionaries(
    {
        "Content-Type": st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        )
    },
    optional={h: header_values for h in SIGNATURE_HEADERS},
)


def _ascii_headers(h: dict[str, str]) -> dict[str, str]:
    return {
        k: v.encode("latin-1", "replace").decode("latin-1").replace("\n", " ").replace("\r", " ")
        for k, v in h.items()
    }


@pytest.mark.parametrize("allow_unsigned", [True, False])
def test_receive_fuzz(store_url, allow_unsigned):
    app = make_app(store_url, allow_unsigned=allow_unsigned, max_batch=20)
    client = app.test_client()

    @FUZZ
    @given(body=bodies, hdrs=headers, sign_as=st.sampled_from([None, None, "grid_trader", "rogue"]))
    def run(body, hdrs, sign_as):
        hdrs = _ascii_headers(hdrs)
        if sign_as is not None:  # a real signature over the fuzzed body
            hdrs.update(sign_headers(identity(sign_as), "POST", "/receive", body))
        before = _footprint(app)
        r = client.post("/receive", data=body, headers=hdrs)
        assert r.status_code < 500, r.get_data(as_text=True)
        if r.status_code != 200:
            err = r.get_json()
            assert set(err) == {"error", "field", "reason"}, err
            assert _footprint(app) == before
        else:
            data = json.loads(body)
            n = len(data) if isinstance(data, list) else 1
            assert _footprint(app)[0] <= before[0] + n
            assert r.get_json()["signed"] == (sign_as is not None)

    try:
        run()
        # good data still answers as it should after all that
        good = recommendation("grid_trader", 0, "deficit", message_id="after-fuzz")
        body = canonical(good)
        h = {
            "Content-Type": "application/json",
            **sign_headers(identity("grid_trader"), "POST", "/receive", body),
        }
        assert client.post("/receive", data=body, headers=h).status_code == 200
        assert client.get("/aggregate?strategy=seed").status_code == 200
        assert client.get("/messages").status_code == 200
    finally:
        app.extensions["energy_agents"].store.close()


# ----------------------------------------------------------------------------- served
BAD_STRINGS = [  # JSON string literals (and raw bytes) no server may answer with a 5xx
    b'"\\ud800"',
    b'"\\udfff"',
    b'"x\\udc00y"',
    b'"\\u0000"',
    b'"a\\u0000b"',
    b'"\xff"',  # invalid UTF-8
    b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8: invalid
    b'"\xc3"',  # truncated sequence
    b'"\x00"',  # a raw NUL: not JSON
    b'"\\ud83d\\ude00"',  # a valid pair
    b'"\xc2\xb2\xe2\x91\xa0"',  # "²①"
]
GOOD = b'"k"'


def _served_bodies() -> list[bytes]:
    """Each bad string as a key and as a value, at every place the endpoints look into."""
    obs = json.dumps(observation_dict(1)).encode()
    rec = b'"agent_name": "grid_trader", "message": "m", "step": 1'
    templates = [
        b"{%K: %V, " + rec + b"}",
        b'{"agent_name": %V, "message": "m"}',
        b'{"agent_name": "grid_trader", "message": %V, "message_id": %V}',
        b'{"agent_name": "grid_trader", "message": "m", "timestamp": %V}',
        b"{" + rec + b', "data": {%K: %V, "n": {%K: [%V]}}}',
        b"{" + rec + b', "levers": {%K: 1}}',
        b"{" + rec + b', "levers": {"storage_setpoints": {%K: %V}, "p2p_price_rule": %V}}',
        b"[{" + rec + b"}, {%K: %V, " + rec + b"}]",
        b'{"observation": {%K: %V, ' + obs[1:] + b"}",
        b'{"observation": ' + obs + b', "record": {"step": 0, %K: %V}, "kpis": {%K: %V}}',
        b'{"observation": {"timestamp": %V, ' + obs[1:] + b"}",
        b'{"observation": {"member_names": [%V, %V, %V], ' + obs[1:] + b"}",
        b'{"observation": {"storage_soc": {%K: %V}, ' + obs[1:] + b"}",
        b'{"step": 1, "strategy": %V}',
        b'{%K: %V, "step": 1}',
        b"{%K: %V}",
        b"[%V]",
    ]
    out = []
    for t in templates:
        for bad in BAD_STRINGS:
            out.append(t.replace(b"%K", bad).replace(b"%V", GOOD))
            out.append(t.replace(b"%K", GOOD).replace(b"%V", bad))
    return out


SERVED_QUERIES = [
    "%ED%A0%80",
    "%FF",
    "%00",
    "a%00b",
    "%C2%B2",
    "%E2%91%A0",
    "-%C2%B2",
    "%D9%A3",
    "1e999",
    "9" * 40,
]
SERVED_GETS = {
    "/messages": ("agent", "step", "since", "limit", "cursor", "order"),
    "/aggregate": ("strategy", "step"),
    "/decisions": ("strategy", "limit", "cursor"),
    "/series": ("since_step", "limit"),
    "/state": (),
    "/kpis": (),
    "/health": (),
    "/": (),
    "/openapi.json": (),
    "/metrics": (),
    "/dashboard": (),
}


@pytest.mark.parametrize("interface", ["rsgi", "wsgi"])
def test_served_fuzz_never_5xx(tmp_path, interface):
    """Lone surrogates, NUL and invalid UTF-8 in keys and values, on every endpoint, through a
    real granian server on each interface (RSGI: /receive on the event loop, the rest through
    the WSGI bridge; WSGI: the FastReceive middleware and Flask): 0 x 5xx, every refusal a
    UTF-8 JSON object naming the field, and the metrics count what was sent."""
    import requests

    from server_fixtures import ServerProcess

    server = ServerProcess(
        tmp_path,
        str(tmp_path / "fuzz.sqlite"),
        *("--interface", interface, "--allow-unsigned", "--allow-unsigned-runner"),
        workers=1,
        threads=4,
    ).start()
    session = requests.Session()
    json_type = {"Content-Type": "application/json"}
    try:
        for step in (0, 1):  # a run in progress: the endpoints look deeper
            body = json.dumps({"observation": observation_dict(step)})
            assert session.post(server.url + "/state", data=body, headers=json_type).ok
        statuses: dict[int, int] = {}
        bad: list[tuple[str, bytes, int, bytes]] = []

        def check(what: str, sent: bytes, r) -> None:
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                bad.append((what, sent, r.status_code, r.content[:300]))
            elif r.status_code >= 400 and r.headers.get("Content-Type", "").startswith(
                "application/json"
            ):
                err = json.loads(r.content.decode("utf-8"))
                if set(err) != {"error", "field", "reason"}:
                    bad.append((what, sent, r.status_code, r.content[:300]))

        bodies = _served_bodies()
        for path in ("/receive", "/state", "/decisions"):
            for body in bodies:
                check(path, body, session.post(server.url + path, data=body, headers=json_type))
        for path, params in SERVED_GETS.items():
            for param in params or ("x",):
                for q in SERVED_QUERIES:
                    url = f"{server.url}{path}?{param}={q}"
                    check(path, url.encode(), session.get(url))
        assert not bad, bad[:5]
        assert sum(statuses.values()) > 1000 and statuses.get(400, 0) > 500, statuses
        metrics = session.get(server.url + "/metrics").text
        five = [line for line in metrics.splitlines() if 'status="5' in line]
        assert not five, five
        assert 'endpoint="/receive",method="POST",status="400"' in metrics
    finally:
        session.close()
        server.stop()
