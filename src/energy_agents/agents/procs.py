"""Process hygiene shared by the launcher, the runner and ``energy-agents up``.

- :func:`die_with_parent`: the kernel sends us SIGTERM when our parent dies (Linux
  ``prctl(PR_SET_PDEATHSIG)`` via ctypes), so no process outlives the one that started it; if
  the parent is already gone when this runs, we exit at once.
- :func:`become_subreaper`: orphans below us are re-parented to us, not to init, so a
  process whose parent was killed stays in our tree (``energy-agents up`` stops it).
- :func:`interrupt_on_term`: SIGTERM and SIGINT raise ``KeyboardInterrupt`` once (the clean
  exit path of asyncio and uagents); later signals are ignored so a clean shutdown is not
  interrupted halfway (the parent escalates to SIGKILL if it takes too long). For
  synchronous loops (the runner).
- :func:`stop_on_term`: the same for an asyncio program (an agent), robustly: until the loop
  runs the signal is only noted (:func:`stop_requested`); once it runs, the loop's own signal
  handler raises ``KeyboardInterrupt`` from a loop callback, the one place asyncio passes it
  straight out of ``run_until_complete``. A ``KeyboardInterrupt`` raised from a plain signal
  handler may land in a library's ``__del__``, weakref callback or broad ``except`` and be
  swallowed; the process then ignored every later SIGTERM until its parent killed it. A
  watchdog exits the process ``grace_s`` after the first signal, whatever the shutdown does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGTERM) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            _libc().prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(0)  # the parent died before the death signal was armed


def become_subreaper() -> bool:
    """True if orphaned descendants now come to this process (Linux >= 3.4)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def set_process_name(name: str) -> None:
    """Name the process (``ps -o comm``, ``/proc/PID/comm``; at most 15 bytes)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            _libc().prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def interrupt_on_term() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


_stop = threading.Event()


def stop_requested() -> bool:
    """True once SIGTERM or SIGINT arrived (see :func:`stop_on_term`)."""
    return _stop.is_set()


def _note_stop(grace_s: float) -> None:
    if _stop.is_set():
        return
    _stop.set()

    def force_exit() -> None:
        sys.stderr.write(f"shutdown took more than {grace_s:g} s; exiting now\n")
        sys.stderr.flush()
        os._exit(0)

    timer = threading.Timer(grace_s, force_exit)
    timer.daemon = True
    timer.start()


def stop_on_term(grace_s: float = 2.5) -> None:
    """Phase 1 (before the event loop runs): SIGTERM/SIGINT only note the stop request."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _note_stop(grace_s)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def interrupt_loop_on_term(loop: asyncio.AbstractEventLoop, grace_s: float = 2.5) -> None:
    """Phase 2: the loop's signal handler raises ``KeyboardInterrupt`` out of ``loop``."""

    def on_signal() -> None:
        _note_stop(grace_s)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def preexec_child() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: die with the parent (``energy-agents up``)."""
    die_with_parent()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot): with the pid, names one process even
    after the pid is reused. None once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from a /proc scan of parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass(frozen=True)
class RestartPolicy:
    """When a supervised child that exited is started again (the launcher's agents and
    ``up``'s services): ``initial_s`` doubling per failure up to ``max_s``; a child that ran
    ``healthy_after_s`` or longer starts the count afresh."""

    initial_s: float = 1.0
    max_s: float = 30.0
    healthy_after_s: float = 30.0

    def delay(self, failures: int, ran_s: float) -> tuple[float, int]:
        """(seconds to wait, failures counted after this exit)."""
        if ran_s > self.healthy_after_s:
            failures = 0
        return min(self.max_s, self.initial_s * 2**failures), failures + 1
