"""Signed posts: tampered body, wrong path or method, forged address, unknown agent, replay,
stale time; and the signing helpers themselves."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from energy_agents.client.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_digest,
    sign_headers,
)
from energy_agents.server.core.signatures import SignatureError, verify_digest, verify_request
from server_fixtures import (
    canonical,
    identity,
    make_app,
    observation_dict,
    recommendation,
    signed_post,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)


@pytest.fixture
def app(store_url):
    app = make_app(store_url)
    yield app
    app.extensions["energy_agents"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


def count(client) -> int:
    return len(client.get("/messages?limit=1000").get_json())


def post(client, body: bytes, headers: dict):
    return client.post(
        "/receive", data=body, headers={"Content-Type": "application/json", **headers}
    )


REC = recommendation("grid_trader", 3, "Low price: buy.", message_id="grid_trader:3:x")


def test_signed_post_is_accepted(client):
    r = signed_post(client, "/receive", REC, "grid_trader")
    assert r.status_code == 200 and r.get_json()["signed"] is True
    assert client.get("/messages").get_json()[0]["signed"] is True


def test_tampered_body(client):
    body = canonical(REC)
    headers = sign_headers(identity("grid_trader"), "POST", "/receive", body)
    r = post(client, body.replace(b"buy", b"sell"), headers)
    assert r.status_code == 401 and r.get_json()["field"] == HEADER_SIGNATURE
    assert count(client) == 0


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/state"), ("PUT", "/receive"), ("POST", "/receive/")]
)
def test_signature_for_another_method_or_path(client, method, path):
    body = canonical(REC)
    r = post(client, body, sign_headers(identity("grid_trader"), method, path, body))
    assert r.status_code == 401 and r.get_json()["field"] == HEADER_SIGNATURE
    assert count(client) == 0


def test_forged_address(client):
    body = canonical(REC)
    headers = sign_headers(identity("rogue"), "POST", "/receive", body)
    headers[HEADER_ADDRESS] = identity("grid_trader").address  # claims to be the grid trader
    r = post(client, body, headers)
    assert r.status_code == 401 and r.get_json()["field"] == HEADER_SIGNATURE
    assert count(client) == 0


def test_unknown_agent(client):
    r = signed_post(client, "/receive", REC, None, ident=identity("rogue"))
    assert r.status_code == 403 and r.get_json()["field"] == HEADER_ADDRESS
    assert count(client) == 0


def test_agent_name_must_be_the_signer(client):
    r = signed_post(client, "/receive", REC, "token_economist")
    assert r.status_code == 403 and r.get_json()["field"] == "agent_name"
    batch = [recommendation("grid_trader", 1, "a"), recommendation("p2p_trader", 1, "b")]
    r = signed_post(client, "/receive", batch, "grid_trader")
    assert r.status_code == 403 and r.get_json()["field"] == "[1].agent_name"
    assert count(client) == 0


def test_replay(client):
    body = canonical(REC)
    headers = sign_headers(identity("grid_trader"), "POST", "/receive", body)
    assert post(client, body, headers).status_code == 200
    r = post(client, body, headers)
    assert r.status_code == 409 and r.get_json()["field"] == HEADER_NONCE
    # the same nonce on another body is a replay too
    other = canonical(recommendation("grid_trader", 4, "other"))
    h2 = sign_headers(
        identity("grid_trader"), "POST", "/receive", other, nonce=headers[HEADER_NONCE]
    )
    assert post(client, other, h2).status_code == 409
    assert count(client) == 1
    # a retry of the same message with a fresh nonce is idempotent
    r = signed_post(client, "/receive", REC, "grid_trader")
    assert r.status_code == 200 and r.headers.get("X-Duplicate") == "true"
    assert count(client) == 1


@pytest.mark.parametrize("offset", [-120.0, 120.0])
def test_stale_or_future_timestamp(client, offset):
    r = signed_post(client, "/receive", REC, "grid_trader", now=time.time() + offset)
    assert r.status_code == 401 and r.get_json()["field"] == HEADER_TIMESTAMP
    assert "stale" in r.get_json()["reason"]
    assert count(client) == 0


@pytest.mark.parametrize(
    "missing", [HEADER_ADDRESS, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE]
)
def test_missing_header(client, missing):
    body = canonical(REC)
    headers = sign_headers(identity("grid_trader"), "POST", "/receive", body)
    del headers[missing]
    r = post(client, body, headers)
    assert r.status_code == 401 and r.get_json()["field"] == missing
    assert count(client) == 0


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        (HEADER_TIMESTAMP, "yesterday", 400),
        (HEADER_TIMESTAMP, "nan", 400),
        (HEADER_NONCE, "x" * 500, 400),
        (HEADER_SIGNATURE, "sig1qqqq", 401),
        (HEADER_ADDRESS, "agent1notanaddress", 403),
    ],
)
def test_malformed_headers(client, header, value, status):
    body = canonical(REC)
    headers = sign_headers(identity("grid_trader"), "POST", "/receive", body)
    headers[header] = value
    r = post(client, body, headers)
    assert r.status_code == status and r.get_json()["field"] == header
    assert count(client) == 0


def test_unsigned_refused_unless_allowed(store_url):
    strict = make_app(store_url).test_client()
    r = strict.post("/receive", json=REC)
    assert r.status_code == 401 and r.get_json()["field"] == HEADER_SIGNATURE
    assert "--allow-unsigned" in r.get_json()["reason"]
    assert strict.post("/state", json={"observation": observation_dict(0)}).status_code == 401
    lax = make_app(store_url, allow_unsigned=True).test_client()
    assert lax.post("/receive", json=REC).get_json()["signed"] is False
    # headers that are present must still be right, even when unsigned posts are allowed
    body = canonical(recommendation("grid_trader", 5, "x"))
    headers = sign_headers(identity("grid_trader"), "POST", "/receive", body)
    r = post(lax, body + b" ", headers)
    assert r.status_code == 401


def test_agents_file_is_reread(store_url, tmp_path):
    path = tmp_path / "agents.json"
    app = make_app(store_url, agents={}, agents_file=str(path))
    app.extensions["energy_agents"].agents.RECHECK_S = 0.0
    c = app.test_client()
    assert signed_post(c, "/receive", REC, "grid_trader").status_code == 403
    path.write_text(json.dumps({"grid_trader": identity("grid_trader").address}))
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert signed_post(c, "/receive", REC, "grid_trader").status_code == 200


def test_verify_request_helper():
    body = b'{"a":1}'
    headers = sign_headers(
        identity("grid_trader"), "POST", "/receive", body, nonce="n1", now=1000.0
    )
    v = verify_request(headers, "POST", "/receive", body, now=1010.0)
    assert (
        v.address == identity("grid_trader").address and v.nonce == "n1" and v.timestamp == 1000.0
    )
    with pytest.raises(SignatureError) as exc:
        verify_request(headers, "POST", "/receive", body, now=2000.0)
    assert exc.value.field == HEADER_TIMESTAMP
    digest = request_digest("POST", "/receive", headers[HEADER_TIMESTAMP], "n1", body)
    expected = hashlib.sha256(
        b"POST\n/receive\n"
        + headers[HEADER_TIMESTAMP].encode()
        + b"\nn1\n"
        + hashlib.sha256(body).hexdigest().encode()
    ).digest()
    assert digest == expected


def test_fast_verification_agrees_with_uagents():
    """The libsecp256k1 path accepts exactly what ``Identity.verify_digest`` accepts."""
    from uagents_core.identity import Identity, _decode_bech32, _encode_bech32

    ident = identity("grid_trader")
    other = identity("p2p_trader")
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    for i in range(40):
        digest = hashlib.sha256(f"d{i}".encode()).digest()
        sig = ident.sign_digest(digest)
        _, raw = _decode_bech32(sig)
        r, s = raw[:32], int.from_bytes(raw[32:], "big")
        flipped = _encode_bech32("sig", r + (n - s).to_bytes(32, "big"))  # the other S
        wrong = hashlib.sha256(f"e{i}".encode()).digest()
        for addr, dg, sg in (
            (ident.address, digest, sig),
            (ident.address, digest, flipped),
            (other.address, digest, sig),
            (ident.address, wrong, sig),
        ):
            try:
                slow = bool(Identity.verify_digest(addr, dg, sg))
            except Exception:
                slow = False
            assert verify_digest(addr, dg, sg) == slow
    for bad in ("", "sig1", "agent1xyz", "x" * 200):
        assert verify_digest(ident.address, b"0" * 32, bad) is False
        assert verify_digest(bad, b"0" * 32, ident.sign_digest(b"0" * 32)) is False
