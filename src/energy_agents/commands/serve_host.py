"""What ``energy-agents serve`` checks and arranges on its host before granian starts.

- :func:`refuse_taken_port`: granian binds one ``SO_REUSEPORT`` socket per worker, so a second
  server on a taken port would start without a word and split the traffic with the first;
  a probe bind without ``SO_REUSEPORT`` fails on any listener there.
- :func:`metrics_dir`: the workers' Prometheus files go to a fresh directory named after this
  process; directories whose owner is dead (a SIGKILLed server never removes its own) are
  removed first.
- :func:`raise_fd_limit`: one descriptor per open connection; the soft limit goes up to the
  hard one so the connection cap (``CONNECTIONS_PER_WORKER``) is the limit, not ``EMFILE``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import shutil
import socket
import tempfile
from pathlib import Path

from ..agents.procs import pid_alive

METRICS_PREFIX = "energy-agents-metrics-"
_OWNER = re.compile(rf"^{re.escape(METRICS_PREFIX)}(\d+)-")
_FILE_PID = re.compile(r"_(\d+)\.db$")  # prometheus_client's multiprocess files: <kind>_<pid>.db


def refuse_taken_port(host: str, port: int) -> str | None:
    """None if ``host:port`` is free to listen on, else why not (names the port)."""
    if not 0 < port < 65536:
        return f"port {port}: must be 1-65535"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: connections of an earlier server in TIME_WAIT do not count; a
        # listener (with or without SO_REUSEPORT) still does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use (another server listens there)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _stale(path: Path) -> bool:
    owner = _OWNER.match(path.name)
    if owner:
        return not pid_alive(int(owner.group(1)))
    # Named before owners were: stale once every worker that wrote a file there is dead.
    pids = [int(m.group(1)) for f in path.iterdir() if (m := _FILE_PID.search(f.name))]
    return bool(pids) and not any(pid_alive(p) for p in pids)


def _mine(path: Path) -> bool:
    return path.lstat().st_uid == os.getuid()


def clean_stale_metrics_dirs(tmp: str | None = None) -> list[Path]:
    """Remove the metrics directories of dead servers under ``tmp``; returns them."""
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(METRICS_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink() and _mine(path) and _stale(path):
                shutil.rmtree(path)
                removed.append(path)
    return removed


def metrics_dir() -> str:
    clean_stale_metrics_dirs()
    return tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")


def raise_fd_limit() -> int:
    """The soft limit of open files, raised to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft
