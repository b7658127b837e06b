"""The agents' stop path (agents/procs.py): a SIGTERM always ends an asyncio agent process,
even when its code swallows every exception or its shutdown hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from energy_agents.agents.procs import interrupt_loop_on_term, stop_on_term, stop_requested

    stop_on_term(grace_s=1.0)
    loop = asyncio.new_event_loop()
    print("building", flush=True)
    time.sleep(float(sys.argv[1]))  # a signal now is only noted
    interrupt_loop_on_term(loop, grace_s=1.0)

    async def stubborn():
        while True:
            try:
                await asyncio.sleep(0.01)
            except BaseException:  # a library that swallows everything
                pass

    if not stop_requested():
        print("running", flush=True)
        try:
            loop.run_until_complete(stubborn())
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            if sys.argv[2] == "hang":
                time.sleep(60)  # a shutdown that never ends
    print("stopped", flush=True)
    os._exit(0)  # as run_agent does: no interpreter finalization (which runs no watchdog)
    """
)


def _run(build_s: float, then: str, after: str) -> tuple[float, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(build_s), then],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    while (line := proc.stdout.readline().strip()) != after:
        lines.append(line)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return time.monotonic() - t0, "\n".join(lines) + "\n" + out, proc.returncode


def test_sigterm_while_running_interrupts_code_that_swallows_everything():
    took, out, code = _run(0.0, "return", "running")
    assert "interrupted" in out and "stopped" in out
    assert code == 0 and took < 1.0  # before the watchdog: the clean path


def test_sigterm_during_the_build_is_noted_and_the_loop_never_starts():
    took, out, code = _run(0.5, "return", "building")
    assert "running" not in out and "stopped" in out
    assert code == 0 and took < 1.0  # the build finished, then the noted stop was honoured


def test_a_hanging_shutdown_is_ended_by_the_watchdog():
    took, out, code = _run(0.0, "hang", "running")
    assert "interrupted" in out and "stopped" not in out
    assert code == 0 and 0.9 < took < 5.0


def test_restart_policy_doubles_and_forgets_after_a_healthy_run():
    from energy_agents.agents.procs import RestartPolicy

    policy = RestartPolicy(initial_s=0.5, max_s=4.0, healthy_after_s=30.0)
    failures, delays = 0, []
    for _ in range(6):  # quick crashes: 0.5, 1, 2, 4, then capped
        delay, failures = policy.delay(failures, ran_s=1.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0] and failures == 6
    assert policy.delay(failures, ran_s=31.0) == (0.5, 1)  # ran long enough: afresh


def test_supervisor_restarts_after_the_back_off_and_leaves_a_finished_child():
    """Real child processes (``sleep``, ``true``, ``false``) under the one supervisor."""
    import subprocess

    from energy_agents.agents.procs import RestartPolicy
    from energy_agents.agents.supervisor import Supervised, Supervisor

    def child(argv, **kw):
        return Supervised(argv[0], lambda: subprocess.Popen(argv), lambda p: p.poll(), **kw)

    runs, done, crash = (
        child(["sleep", "30"]),
        child(["true"], done_when_clean=True),
        child(["false"]),
    )
    sup = Supervisor([runs, done, crash], RestartPolicy(initial_s=0.2, max_s=1.0))
    sup.start_all()
    for c in (done, crash):
        c.proc.wait(timeout=5)
    events = sup.poll()
    assert {(e.kind, e.child.name, e.code) for e in events} == {
        ("finished", "true", 0),
        ("exited", "false", 1),
    }
    assert [e.delay_s for e in events if e.kind == "exited"] == [0.2]
    assert sup.poll() == []  # the restart is not due yet; the finished child stays finished
    first = crash.proc.pid
    assert [e.kind for e in sup.poll(time.monotonic() + 0.3)] == ["restarted"]
    assert crash.proc.pid != first and crash.restarts == 1 and done.history == [0]
    crash.proc.wait(timeout=5)
    (ev,) = sup.poll()
    assert ev.delay_s == 0.4  # doubled: it failed again at once
    sup.stopping = True
    runs.proc.kill()
    runs.proc.wait(timeout=5)
    assert sup.poll(time.monotonic() + 5) == [] and runs.history == [-9]
