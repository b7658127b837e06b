"""The live simulation runner: the batch loop of ``runner.batch.run_batch`` spread over the network.

Each step ``N``:

1. publish the observation of step ``N`` to ``POST /state``, together with the record of the
   step just finished and the KPIs so far (the dashboard reads them);
2. wait until ``/messages?step=N`` holds a recommendation from each of the five agents for
   exactly this observation (their message ids carry the observation digest), or until the
   deadline (``deadline_s`` after publishing);
3. ask for the decision of step ``N`` (``ServerClient.request_decision``: a signed
   ``POST /decisions``, or ``GET /aggregate?step=N`` on an older server): after a deadline
   the server's strategy aggregates whatever arrived and lists the silent advisors in
   ``missing``;
4. apply ``Levers.from_dict(decision["parameters"])`` with ``Community.step``, step the
   no-control baseline (strategy ``none``, in process) in lockstep, append the step to the
   checkpoint (fsync), publish step ``N + 1`` at once (so the record of step ``N`` reaches the
   dashboard with its decision, not a tick later) and sleep out the rest of the tick.

A server that does not answer is retried with back-off (the runner survives a server
restart); every request the runner repeats is idempotent (``/state`` is the latest snapshot,
a step is decided once). On start the runner replays the checkpoint, so a
SIGKILLed runner resumes at the step it had reached.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..advisors.types import AGENT_NAMES
from ..client.http import PostResult, ServerClient, ServerUnavailable
from ..client.ids import DEFAULT_COMMUNITY, community_dir, observation_digest
from ..client.outbox import Backoff
from ..coordination.baseline import NoControl
from ..coordination.step import coordinate
from ..sim.community import Community, StepResult
from ..sim.kpis import compute_kpis
from ..sim.levers import Levers
from ..sim.params import Scenario
from .batch import apply_decision
from .checkpoint import Checkpoint
from .record import step_record, stored_energy_kwh

log = logging.getLogger("energy_agents.runner")


@dataclass(frozen=True)
class RunnerConfig:
    server_url: str
    data_dir: Path
    strategy: str = "weighted"
    tick_s: float = 5.0
    """Minimum wall time per simulated step; 0: as fast as the agents answer."""
    deadline_s: float = 10.0
    """Longest wait for the five recommendations after publishing a step."""
    max_steps: int | None = None
    """Stop after this many steps (counted from step 0, resumed steps included)."""
    poll_s: float = 0.05
    expected_agents: tuple[str, ...] = AGENT_NAMES
    token: str | None = None
    """Bearer token for ``POST /state`` when the server wants one instead of a signature."""
    community: str = DEFAULT_COMMUNITY
    """The server's community this run is (its checkpoint: under ``community_dir``)."""


def load_run_scenario(spec: Mapping[str, Any]) -> Scenario:
    """Build the scenario named by a run spec: ``{"scenario", "members", "days", "seed"}``.

    ``tiny`` is the small random community of the tests; anything else goes to
    ``energy_agents.scenarios.load_scenario`` (``synthetic``, ``citylearn:PATH``, ``csv:PATH``).
    """
    name = spec.get("scenario", "synthetic")
    members, days, seed = spec.get("members"), spec.get("days"), int(spec.get("seed", 0))
    if name == "tiny":
        from ..scenarios.tiny import tiny_scenario

        return tiny_scenario(seed=seed, n_members=members or 4, n_steps=24 * (days or 2))
    from ..scenarios import load_scenario

    return load_scenario(name, members=members, days=days, seed=seed)


@dataclass
class LiveRunner:
    cfg: RunnerConfig
    scenario: Scenario
    client: ServerClient
    identity: Any = None  # signs POST /state unless cfg.token is set
    spec: Mapping[str, Any] = field(default_factory=dict)
    say: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self.community = Community(self.scenario)
        self.baseline = Community(self.scenario)
        self.none = NoControl()
        self.checkpoint = Checkpoint(community_dir(self.cfg.data_dir, self.cfg.community))
        self.last_record: dict[str, Any] | None = None
        self.published: tuple[int, str, float] | None = None
        """(step, digest, when) of the observation on the server, not yet decided."""
        self.stop_requested = False
        self.fallbacks = 0

    # ---------------------------------------------------------------- resume
    def resume(self) -> int:
        """Replay the checkpoint; returns the step the run continues from."""
        steps = self.checkpoint.open_run(dict(self.spec, strategy=self.cfg.strategy))
        steps = steps[: self.scenario.n_steps]
        self.checkpoint.truncate_to(steps)
        for rec in steps:
            levers = Levers.from_dict(rec["levers"])
            self._advance(levers, rec.get("decision", {}), wall_s=rec.get("wall_s", 0.0))
        return self.community.t

    def _advance(
        self, levers: Levers, decision: Mapping[str, Any], wall_s: float
    ) -> tuple[StepResult, StepResult]:
        """Apply the server's decision and the no-control baseline's, the batch loop's way."""
        base_decision, _, _ = coordinate(self.none, self.baseline.observe(), {})
        res = apply_decision(self.community, levers)
        base = apply_decision(self.baseline, base_decision.parameters)
        self.last_record = self._record(res, decision, wall_s)
        return res, base

    def _record(
        self, res: StepResult, decision: Mapping[str, Any], wall_s: float
    ) -> dict[str, Any]:
        t = res.step
        record = step_record(self.community, t)
        base_spent = float(self.baseline.results["tokens_spent_ct"][t])
        record.update(
            strategy=self.cfg.strategy,
            action=decision.get("action"),
            levers=res.levers.to_dict(),
            followed=list(decision.get("followed", [])),
            overridden=list(decision.get("overridden", [])),
            missing=list(decision.get("missing", [])),
            baseline_tokens_spent_ct=base_spent,
            tokens_saved_ct=base_spent - record["tokens_spent_ct"],
            stored_kwh=stored_energy_kwh(self.community),
            baseline_stored_kwh=stored_energy_kwh(self.baseline),
            wall_s=wall_s,
        )
        return record

    def kpis(self) -> dict[str, Any]:
        base_spent = float(self.baseline.results["tokens_spent_ct"][: self.baseline.t].sum())
        kpis = compute_kpis(self.community, base_spent)
        kpis["baseline_tokens_spent_ct"] = base_spent
        kpis["strategy"] = self.cfg.strategy
        kpis["scenario"] = self.scenario.name
        kpis["n_steps"] = self.scenario.n_steps
        kpis["fallback_steps"] = self.fallbacks
        return kpis

    # ---------------------------------------------------------------- network
    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Call until it answers; back off while the server is down."""
        backoff = Backoff(initial=0.1, cap=2.0)
        warned = False
        while not self.stop_requested:
            try:
                return call()
            except ServerUnavailable as exc:
                if not warned:
                    self.say(f"runner: {what}: server unavailable ({exc}); retrying")
                    warned = True
                time.sleep(backoff.next())
        raise KeyboardInterrupt

    def publish(self, obs_dict: dict[str, Any]) -> None:
        payload = {"observation": obs_dict, "record": self.last_record, "kpis": self.kpis()}

        def post() -> PostResult:
            identity = None if self.cfg.token else self.identity
            res = self.client.post_signed("/state", payload, identity)
            if res.ok:
                return res
            if res.retryable:
                raise ServerUnavailable(f"POST /state: HTTP {res.status or res.body}")
            raise RuntimeError(f"POST /state refused (HTTP {res.status}): {res.body}")

        self._retry("POST /state", post)

    def published_digest(self, step: int, fallback: str) -> str:
        """The digest of the observation as the agents will read it back from /state."""
        obs = self._retry("GET /state", self.client.get_state)
        if isinstance(obs, dict) and obs.get("step") == step:
            return observation_digest(obs)
        return fallback

    def answered(self, step: int, digest: str) -> set[str]:
        msgs = self._retry("GET /messages", lambda: self.client.get_messages(step))
        names: set[str] = set()
        suffix = f":{step}:{digest[:16]}"
        for m in msgs:
            if not isinstance(m, dict) or m.get("step", step) != step:
                continue
            mid = m.get("message_id")
            if isinstance(mid, str) and ":" in mid and not mid.endswith(suffix):
                continue  # an answer to another observation (another run in the same store)
            names.add(str(m.get("agent_name")))
        return names

    # ---------------------------------------------------------------- loop
    def publish_next(self) -> None:
        """Publish the observation of the step to decide next (with the last step's record)."""
        when = time.monotonic()
        obs = self.community.observe()
        obs_dict = json.loads(json.dumps(obs.to_dict()))
        self.publish(obs_dict)
        digest = self.published_digest(obs.step, observation_digest(obs_dict))
        self.published = (obs.step, digest, when)

    def step_once(self) -> dict[str, Any]:
        started = time.monotonic()
        if self.published is None or self.published[0] != self.community.t:
            self.publish_next()
        assert self.published is not None
        step, digest, published_at = self.published
        expected = set(self.cfg.expected_agents)
        deadline = published_at + self.cfg.deadline_s
        got: set[str] = set()
        while not self.stop_requested:
            got = self.answered(step, digest) & expected
            if got == expected or time.monotonic() >= deadline:
                break
            time.sleep(self.cfg.poll_s)
        if self.stop_requested:
            raise KeyboardInterrupt
        if got != expected:
            self.fallbacks += 1
            self.say(
                f"runner: step {step}: no answer from {', '.join(sorted(expected - got))} "
                f"within {self.cfg.deadline_s:g} s; deciding with {len(got)} of {len(expected)}"
            )
        identity = None if self.cfg.token else self.identity
        decision = dict(
            self._retry(
                "POST /decisions",
                lambda: self.client.request_decision(
                    step, self.cfg.strategy, identity=identity, retry_s=0
                ),
            ).raw
        )
        levers = Levers.from_dict(decision["parameters"])
        wall = time.monotonic() - started
        self._advance(levers, decision, wall)
        self.published = None
        kept = {
            k: decision.get(k)
            for k in ("action", "details", "strategy", "followed", "overridden", "missing")
        }
        kept["parameters"] = decision["parameters"]
        kept["message_ids"] = decision.get("message_ids")
        self.checkpoint.append(
            {"step": step, "levers": decision["parameters"], "decision": kept, "wall_s": wall}
        )
        return kept

    def run(self, fresh: bool = False) -> int:
        self.checkpoint.lock()
        if fresh:
            self.checkpoint.reset()
        start_step = self.resume()
        if start_step:
            self.say(f"runner: resumed at step {start_step} of {self.scenario.n_steps}")
        limit = self.scenario.n_steps
        if self.cfg.max_steps is not None:
            limit = min(limit, self.cfg.max_steps)
        while self.community.t < limit and not self.stop_requested:
            tick_start = time.monotonic()
            decision = self.step_once()
            t = self.community.t - 1
            self.say(
                f"runner: step {t} applied ({decision.get('strategy')}: "
                f"{decision.get('action')}); missing: {decision.get('missing') or 'none'}"
            )
            if self.community.t < limit:
                self.publish_next()  # the record of step t goes out now, with step t + 1
            rest = self.cfg.tick_s - (time.monotonic() - tick_start)
            if rest > 0 and self.community.t < limit:
                time.sleep(rest)
        if not self.stop_requested:
            final = self.community.observe().to_dict()
            self.publish(json.loads(json.dumps(final)))
            k = self.kpis()
            self.say(
                f"runner: done after {self.community.t} steps; tokens spent "
                f"{k['tokens_spent_ct']:.1f} CT, saved {k['tokens_saved_ct']:.1f} CT vs no control"
            )
        return 0
