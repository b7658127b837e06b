"""One supervisor for child processes: the launcher's five agents (forked ``mp.Process``es)
and ``up``'s services (server, runner, agents: ``subprocess.Popen``). It starts them, notices
an exit, restarts the child after :class:`.procs.RestartPolicy`'s back-off, and leaves alone a
child whose clean exit means it is done (``up``'s runner at the end of its run). How a child
starts, how its exit code is read and how it is stopped are its owner's; what happened is
returned as :class:`Event`s, which the owner reports in its own words."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .procs import RestartPolicy


@dataclass(eq=False)
class Supervised:
    """One child: ``start()`` starts its process and returns it; ``exit_code(proc)`` is None
    while it runs."""

    name: str
    start: Callable[[], Any]
    exit_code: Callable[[Any], int | None]
    done_when_clean: bool = False
    proc: Any = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0
    finished: bool = False
    history: list[int] = field(default_factory=list)  # exit codes (-N: signal N)


@dataclass(frozen=True)
class Event:
    kind: str  # "exited" (a restart is due in delay_s), "restarted", "finished"
    child: Supervised
    code: int | None = None
    delay_s: float = 0.0


class Supervisor:
    def __init__(self, children: Sequence[Supervised], policy: RestartPolicy) -> None:
        self.children = list(children)
        self.policy = policy
        self.stopping = False

    def launch(self, child: Supervised) -> None:
        child.proc, child.started, child.restart_at = child.start(), time.monotonic(), None

    def start_all(self) -> None:
        for child in self.children:
            self.launch(child)

    def poll(self, now: float | None = None) -> list[Event]:
        """Notice exits and due restarts; call every few hundred ms."""
        now = time.monotonic() if now is None else now
        events: list[Event] = []
        for child in self.children:
            if child.proc is None or child.finished:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    self.launch(child)
                    child.restarts += 1
                    events.append(Event("restarted", child))
                continue
            code = child.exit_code(child.proc)
            if code is None:
                continue
            child.history.append(code)
            if self.stopping:
                continue
            if child.done_when_clean and code == 0:
                child.finished = True
                events.append(Event("finished", child, code))
                continue
            delay, child.failures = self.policy.delay(child.failures, now - child.started)
            child.restart_at = now + delay
            events.append(Event("exited", child, code, delay))
        return events
