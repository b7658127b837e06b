"""Processes and connections of a real ``energy-agents serve`` (granian): workers die with
their server, a taken port is refused, stale metrics directories are cleaned, and clients
that never finish their headers or bodies lock nobody out."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from energy_agents.agents.procs import descendants, pid_alive
from server_fixtures import ServerProcess

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "energy_agents.cli"]


def listeners(port: int) -> dict[int, int]:
    """{pid: listening sockets on 127.0.0.1:port it holds}, from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f[9])
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{entry}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        out[int(entry)] = out.get(int(entry), 0) + 1
    return out


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s: {what}")


def test_sigkilled_server_takes_its_workers_with_it(tmp_path):
    server = ServerProcess(tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned").start()
    workers: list[int] = []
    try:
        workers = descendants(server.proc.pid)
        assert len(workers) >= 2
        wait_for(lambda: set(listeners(server.port)) == set(workers), 10, "a listener each")
        os.kill(server.proc.pid, signal.SIGKILL)  # the server process only, not its group
        server.proc.wait(5)
        wait_for(lambda: not any(pid_alive(p) for p in workers), 5, f"workers {workers} exit")
        assert listeners(server.port) == {}
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/health", timeout=2)
    finally:
        server.kill()
        for pid in workers:  # orphans of a failed run
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_taken_port_is_refused(tmp_path):
    server = ServerProcess(tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned").start()
    try:
        before = wait_for(
            lambda: len(listeners(server.port)) == 2 and listeners(server.port), 10, "2 listeners"
        )
        for argv in (
            [*CLI, "serve", "--port", str(server.port), "--database", str(tmp_path / "b.sqlite")],
            [sys.executable, "ai_manager_server.py", "--port", str(server.port)],
            [*CLI, "up", "--port", str(server.port), "--data-dir", str(tmp_path / "up")],
        ):
            r = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60,
                cwd=tmp_path if "ai_manager_server.py" not in argv[1] else Path.cwd(),
                env=dict(os.environ, PYTHONPATH=str(Path.cwd())),
            )
            assert r.returncode == 1, (argv, r.stdout, r.stderr)
            assert f"port {server.port}" in r.stderr and "in use" in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
            assert listeners(server.port) == before  # the first server is alone on its port
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "--port", "70000"], "port 70000: must be 1-65535"),
        (["serve", "--header-timeout", "nan"], "header-timeout and body-timeout"),
        (["serve", "--body-timeout", "0"], "header-timeout and body-timeout"),
        (["up", "--port", "0"], "port 0: must be 1-65535"),
    ],
)
def test_bad_port_or_timeout_is_a_message(tmp_path, args, said):
    argv = [*CLI, *args, "--data-dir" if args[0] == "up" else "--database", str(tmp_path / "d")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_stale_metrics_directories_are_removed_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    first = ServerProcess(tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned").start()
    requests.get(first.url + "/messages", timeout=5)  # the workers write their metric files
    first.kill()  # SIGKILL of the whole group: nobody removes its directory
    stale = list(tmp_path.glob("energy-agents-metrics-*"))
    assert len(stale) == 1 and any(stale[0].iterdir())
    live = tmp_path / f"energy-agents-metrics-{os.getpid()}-keep"  # a live owner: kept
    live.mkdir()
    second = ServerProcess(tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned").start()
    try:
        assert not stale[0].exists()
        assert live.exists()
        assert len(list(tmp_path.glob("energy-agents-metrics-*"))) == 2  # second's own + live
        log = second.log_path.read_text()
        assert "open to anyone" in log and "127.0.0.1" in log  # --allow-unsigned, said loudly
    finally:
        second.stop()
    assert [p.name for p in tmp_path.glob("energy-agents-metrics-*")] == [live.name]


def _raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip(f"needs {n} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def _open(port: int, n: int, first: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(first)
        socks.append(s)
    return socks


def _fresh_gets(url: str, n: int = 4, timeout: float = 3.0) -> list[float]:
    """Seconds each of ``n`` fresh ``GET /`` took (fails if one is not answered in time)."""
    took = []
    for _ in range(n):
        t0 = time.monotonic()
        r = requests.get(url + "/", timeout=timeout)
        assert r.status_code == 200
        took.append(time.monotonic() - t0)
    return took


N_SLOW = 1100


def test_unfinished_headers_lock_nobody_out(tmp_path):
    _raise_fd_limit(N_SLOW + 512)
    server = ServerProcess(
        tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned", "--header-timeout", "4"
    ).start()
    socks: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        socks = _open(server.port, N_SLOW, b"GET / HTTP/1.1\r\nHost: x\r\n")
        # while all of them are still open (granian's defaults: 0 of 4 answered in 3 s)
        assert max(_fresh_gets(server.url, timeout=2.0)) < 2.0
        assert time.monotonic() - t0 < 3.5, "too slow to test the headers still open"
        time.sleep(max(0.0, 4.5 - (time.monotonic() - t0)))  # past the header timeout
        for s in socks[:50]:  # closed (or answered 408 and closed) by the server
            s.settimeout(2)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]
        assert max(_fresh_gets(server.url)) < 3.0
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_slow_bodies_lock_nobody_out_and_time_out(tmp_path):
    _raise_fd_limit(N_SLOW + 512)
    server = ServerProcess(
        tmp_path, str(tmp_path / "s.sqlite"), "--allow-unsigned", "--body-timeout", "3"
    ).start()
    socks: list[socket.socket] = []

    def head(path: str) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{"
        ).encode()

    try:
        t0 = time.monotonic()
        # /receive: read on the event loop; /state: read for the Flask app (WSGIBridge)
        for path in ("/receive", "/state"):
            socks += _open(server.port, N_SLOW // 2, head(path))
        assert max(_fresh_gets(server.url, timeout=2.0)) < 2.0
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
        for s in socks:  # one more byte each, 2 s later: still too slow
            with contextlib.suppress(OSError):
                s.sendall(b" ")
        assert max(_fresh_gets(server.url, timeout=2.0)) < 2.0
        post = {"agent_name": "a", "message": "ok"}
        assert requests.post(server.url + "/receive", json=post, timeout=2).status_code == 200
        assert time.monotonic() - t0 < 3.0, "too slow to test the bodies still unfinished"
        time.sleep(max(0.0, 3.5 - (time.monotonic() - t0)))
        answers = []
        for s in socks[:10] + socks[-10:]:
            s.settimeout(3)
            answers.append(s.recv(4096))
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
        assert all(b'"field":"body"' in a.replace(b" ", b"") for a in answers)
    finally:
        for s in socks:
            s.close()
        server.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_up_leaves_nothing_after_its_server_is_sigkilled(tmp_path):
    from ports import free_port_block

    port = free_port_block(7)
    argv = [*CLI, "up", "--port", str(port), "--base-port", str(port + 1)]
    argv += ["--data-dir", str(tmp_path / "data"), "--tick", "0.5", "--scenario", "synthetic"]
    argv += ["--members", "3", "--days", "1", "--strategy", "seed", "--seed", "0"]
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: set[int] = set()

    def servers() -> list[int]:
        seen.update(descendants(up.pid))
        return [p for p in descendants(up.pid) if " serve " in _cmdline(p)]

    def health() -> bool:
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok
        return False

    try:
        wait_for(lambda: health() and len(servers()) == 3, 60, "up's server and 2 workers")
        first = servers()
        (main,) = [p for p in first if _parent(p) == up.pid]
        os.kill(main, signal.SIGKILL)  # the server process only: its workers are not told
        wait_for(lambda: not any(pid_alive(p) for p in first), 5, "the old workers exit")
        wait_for(lambda: health() and len(servers()) == 3, 30, "up's restarted server")
        again = servers()
        assert not set(again) & set(first)
        workers = [p for p in again if _parent(p) != up.pid]
        # one server on the port: one socket per worker of the new server, nothing else
        wait_for(lambda: listeners(port) == dict.fromkeys(workers, 1), 10, "one listener each")
        time.sleep(0.5)
        assert listeners(port) == dict.fromkeys(workers, 1)
        up.send_signal(signal.SIGINT)  # Ctrl-C
        up.wait(20)
        wait_for(lambda: not any(pid_alive(p) for p in seen), 5, f"all of {sorted(seen)} exit")
        assert listeners(port) == {}
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(5)
        for pid in seen:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0
