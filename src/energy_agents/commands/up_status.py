"""``energy-agents up``'s terminal: one compact status line per simulated step.

A daemon thread reads the runner's per-step records from the server (``GET /series``, the
records the dashboard plots) and prints, for each new step, the step, its simulated time, the
tokens saved so far against the no-control baseline, how many agents answered and the
decision's action. Only the standard library: ``up`` stays light.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ..advisors.types import AGENT_NAMES

POLL_S = 0.5
PAGE = 10_000  # the server's largest /series page


def status_line(record: Mapping[str, Any], saved_ct: float) -> str:
    """``step   12  01-01 12:00  saved    3.2 CT  agents 5/5  <action>`` for one record."""
    n = len(AGENT_NAMES)
    missing = record.get("missing") or []
    answered = n - len([m for m in missing if m in AGENT_NAMES])
    when = str(record.get("sim_time") or record.get("timestamp") or "")
    when = when[5:16] if len(when) >= 16 else when
    return (
        f"step {record.get('step', '?'):>5}  {when}  saved {saved_ct:>8.1f} CT  "
        f"agents {answered}/{n}  {record.get('action') or '-'}"
    )


class StatusPrinter:
    """Polls ``server``'s ``/series`` and calls ``emit`` with one line per new step.

    On the first answer a resumed run may hold thousands of records: their savings are summed
    but only the newest is printed."""

    def __init__(
        self, server: str, emit: Callable[[str], None] | None = None, community: str | None = None
    ) -> None:
        self.server = server.rstrip("/")
        self.community = f"&community={community}" if community else ""
        self.emit = emit or (lambda line: print(line, flush=True))
        self.next_step = 0
        self.saved_ct = 0.0
        self.first = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="up-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _fetch(self) -> list[dict]:
        url = f"{self.server}/series?since_step={self.next_step}&limit={PAGE}{self.community}"
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=2.0) as resp:
            data = json.loads(resp.read())
        return [r for r in data if isinstance(r, dict) and isinstance(r.get("step"), int)]

    def poll_once(self) -> None:
        records = sorted(self._fetch(), key=lambda r: r["step"])
        lines = []
        for rec in records:
            if rec["step"] < self.next_step:
                continue
            saved = rec.get("tokens_saved_ct")
            self.saved_ct += float(saved) if isinstance(saved, (int, float)) else 0.0
            self.next_step = rec["step"] + 1
            lines.append(status_line(rec, self.saved_ct))
        if self.first:  # what was there before up started: only the newest line
            lines = lines[-1:]
            self.first = False
        for line in lines:
            self.emit(line)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll_once()
            except (OSError, ValueError, urllib.error.URLError):
                continue  # the server is starting or restarting: the next round asks again
