"""A real ``energy-agents serve`` (granian, several workers): durability across SIGKILL and
concurrent posters, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from energy_agents.client.signing import sign_headers
from server_fixtures import (
    ServerProcess,
    agents_map,
    canonical,
    identity,
    recommendation,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)

pytestmark = pytest.mark.timeout(180)


def all_messages(url: str, **params) -> list[dict]:
    out, cursor = [], None
    with requests.Session() as s:
        while True:
            q = {"limit": 1000, **params}
            if cursor:
                q["cursor"] = cursor
            r = s.get(url + "/messages", params=q, timeout=10)
            r.raise_for_status()
            out += r.json()
            cursor = r.headers.get("X-Next-Cursor")
            if not cursor:
                return out


def test_sigkill_loses_no_acknowledged_message(store_url, tmp_path):
    server = ServerProcess(tmp_path, store_url, "--allow-unsigned", workers=2, threads=4).start()
    acked: set[str] = set()
    tried: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def poster(k: int) -> None:
        with requests.Session() as s:
            i = 0
            while not stop.is_set():
                mid = f"p{k}-{i}"
                i += 1
                with lock:
                    tried.append(mid)
                body = {"agent_name": f"agent{k}", "message": f"deficit {i}", "message_id": mid}
                try:
                    r = s.post(server.url + "/receive", json=body, timeout=5)
                except requests.RequestException:
                    time.sleep(0.01)
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.add(mid)

    try:
        threads = [threading.Thread(target=poster, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for _ in range(1):  # kill while the posts stream in
            deadline = time.monotonic() + 10
            start = len(acked)
            while len(acked) < start + 200 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()
            time.sleep(0.3)
            server.start()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
        stored = all_messages(server.url)
        ids = [m["message_id"] for m in stored]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        missing = acked - set(ids)
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
        assert len(acked) >= 200
        # retrying everything (as a client without answers would) stores nothing twice
        with requests.Session() as s:
            for mid in tried[:60] + tried[-60:]:
                k, i = mid[1:].split("-")
                body = {
                    "agent_name": f"agent{k}",
                    "message": f"deficit {int(i) + 1}",
                    "message_id": mid,
                }
                assert s.post(server.url + "/receive", json=body, timeout=5).status_code == 200
        again = [m["message_id"] for m in all_messages(server.url)]
        assert len(again) == len(set(again)) and set(again) >= set(ids)
    finally:
        stop.set()
        server.stop()


def _metric(text: str, pattern: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if re.match(pattern, line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_concurrent_signed_posters_on_several_workers(store_url, tmp_path):
    agents_file = tmp_path / "agents.json"
    agents_file.write_text(json.dumps(agents_map()))
    server = ServerProcess(
        tmp_path, store_url, "--agents-file", str(agents_file), workers=3, threads=4
    ).start()
    n_clients, per_client = 16, 25

    def client(k: int) -> list[int]:
        agent = AGENT_NAMES[k % len(AGENT_NAMES)]
        statuses = []
        with requests.Session() as s:
            for i in range(per_client):
                rec = recommendation(agent, i, f"c{k} m{i}", message_id=f"{agent}:{k}:{i}")
                body = canonical(rec)
                headers = sign_headers(identity(agent), "POST", "/receive", body)
                headers["Content-Type"] = "application/json"
                r = s.post(server.url + "/receive", data=body, headers=headers, timeout=10)
                statuses.append(r.status_code)
        return statuses

    try:
        with ThreadPoolExecutor(n_clients) as pool:
            results = list(pool.map(client, range(n_clients)))
        assert all(s == 200 for st in results for s in st), results
        expected = n_clients * per_client
        stored = all_messages(server.url)
        assert len(stored) == expected
        assert len({(m["agent_name"], m["message_id"]) for m in stored}) == expected
        assert all(m["signed"] for m in stored)
        ids = [m["id"] for m in stored]
        assert ids == sorted(ids)
        for step in (0, per_client - 1):
            assert len(all_messages(server.url, step=step)) == n_clients
        # metrics summed over the workers, counts from the database
        text = requests.get(server.url + "/metrics", timeout=10).text
        assert _metric(text, r"energy_agents_messages_stored ") == expected
        assert (
            _metric(
                text,
                r'energy_agents_http_requests_total\{endpoint="/receive",method="POST",status="200"\}',
            )
            == expected
        )
        assert (
            _metric(
                text, r'energy_agents_http_request_duration_seconds_count\{endpoint="/receive"\}'
            )
            == expected
        )
    finally:
        server.stop()


def test_bodies_the_fast_path_leaves_to_flask(tmp_path):
    """Through granian: a chunked post goes to Flask and is stored, an oversized one is
    refused (413, nothing stored), idle keep-alive connections lock nobody out, and the
    commit groups are counted."""
    server = ServerProcess(
        tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned", workers=2, threads=2
    ).start()
    try:
        idle = [requests.Session() for _ in range(8)]  # more than workers x threads
        for s in idle:
            assert s.get(server.url + "/health", timeout=5).status_code == 200
        body = canonical({"agent_name": "grid_trader", "message": "deficit", "message_id": "c1"})
        chunked = requests.post(
            server.url + "/receive",
            data=iter([body[:10], body[10:]]),  # a generator: Transfer-Encoding: chunked
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert chunked.status_code == 200, chunked.text
        assert chunked.json()["message_id"] == "c1"
        big = requests.post(
            server.url + "/receive",
            data=b'{"agent_name": "a", "message": "' + b"x" * (2 << 20) + b'"}',
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert big.status_code == 413 and big.json()["field"] == "body"
        assert [m["message_id"] for m in all_messages(server.url)] == ["c1"]
        text = requests.get(server.url + "/metrics", timeout=10).text
        assert _metric(text, r"energy_agents_commit_group_size_sum ") == 1
        for s in idle:
            s.close()
    finally:
        server.stop()
