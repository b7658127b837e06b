"""Free loopback ports for test servers.

Blocks come from below the kernel's ephemeral range: a block picked inside it can be taken
between the check and the bind by the outgoing connection of some other process (seen as
"address already in use" on a busy machine)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(n: int) -> int:
    """The first of ``n`` consecutive ports that are free on 127.0.0.1 right now."""
    rng = random.Random()
    top = min(_ephemeral_start(), 65535) - n
    for _ in range(200):
        base = rng.randrange(10000, top)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError(f"no block of {n} free ports")
