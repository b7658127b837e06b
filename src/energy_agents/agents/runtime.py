"""One live agent: a uagents ``Agent`` wrapping one advisor, run in its own process.

Every ``interval_s`` (and at once when a forecast arrives) the agent reads ``/state``; for an
observation it has not answered yet it calls its advisor, stores the recommendation in its
outbox and a sender task posts it, signed, to ``/receive`` (retrying with back-off while the
server is down). The demand forecaster first sends its forecast to the other four agents as a
typed uagents message over their local ``/submit`` endpoints; they use it for the same step.

Forecast fallback: an agent that needs the forecast waits up to ``forecast_wait_s`` for it
(default 1 s), then calls its advisor with ``forecast=None`` and says so in the log. A forecast
is matched to its observation by the observation's digest, never only by step number.

Offline configuration (``../shared/design/UAGENTS.md``): no-op registration, a static
resolver (peer address -> ``http://127.0.0.1:PORT/submit``), no Almanac/ledger/Agentverse,
server bound to 127.0.0.1, the uagents storage in the agent's own data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..advisors.types import AGENT_NAMES, FORECASTER
from ..client.http import ServerClient, ServerUnavailable
from ..client.ids import DEFAULT_COMMUNITY, community_dir, message_id, observation_digest
from ..client.outbox import Backoff, Outbox
from .identity import load_or_create_seed

FORECAST_RECIPIENTS = tuple(n for n in AGENT_NAMES if n != FORECASTER)
"""Every other agent gets the forecast: the batch (``recommend_all``) hands it to all four, and
the live run must see what the batch sees (the issue names three of them; the fourth,
``token_economist``, is added for parity)."""

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
FORECASTS_KEPT = 8
DEFAULT_BASE_PORT = 8101


def default_ports(base_port: int = DEFAULT_BASE_PORT) -> dict[str, int]:
    return {name: base_port + k for k, name in enumerate(AGENT_NAMES)}


@dataclass(frozen=True)
class AgentConfig:
    """Everything a child process needs (picklable; the ``Agent`` is built in the child)."""

    name: str
    server_url: str
    data_dir: str
    ports: Mapping[str, int]
    addresses: Mapping[str, str]
    interval_s: float = 5.0
    forecast_wait_s: float = 1.0
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)
    community: str = DEFAULT_COMMUNITY

    @property
    def port(self) -> int:
        return self.ports[self.name]

    @property
    def home(self) -> Path:
        """This agent's own directory (uagents' storage, its pid file), per community."""
        return community_dir(Path(self.data_dir), self.community) / "agents" / self.name


def configure_offline() -> None:
    """Module-level switches of uagents 0.26 that make it run without any network."""
    import uagents.agent
    import uagents.asgi
    import uagents.registration

    uagents.asgi.HOST = "127.0.0.1"
    uagents.registration.ALMANAC_API_MAX_RETRIES = 1
    uagents.registration.ALMANAC_API_TIMEOUT_SECONDS = 0.2
    uagents.agent.get_almanac_contract = lambda network="testnet": None  # no ledger query


def _no_registration_policy():
    from uagents_core.registration import AgentRegistrationPolicy

    class NoRegistration(AgentRegistrationPolicy):
        """Offline: nothing to register with."""

        async def register(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRegistration()


class AgentCore:
    """The agent's logic, independent of uagents (one instance per process)."""

    def __init__(self, cfg: AgentConfig, identity: Any, logger: logging.Logger) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.identity = identity
        self.log = logger
        self.client = ServerClient(cfg.server_url, timeout=3.0, community=cfg.community)
        own = community_dir(Path(cfg.data_dir), cfg.community)
        self.outbox = Outbox(own / "outbox" / f"{cfg.name}.sqlite")
        self.wake_sender = asyncio.Event()
        self.lock = asyncio.Lock()
        self.answered: str | None = None  # digest of the last observation answered
        self.forecasts: dict[str, dict[str, Any]] = {}
        self.forecast_events: dict[str, asyncio.Event] = {}
        self.started = time.monotonic()
        self.first_post_logged = False
        self.waiting_logged = False
        self.send_forecast = None  # set by the uagents wrapper for the forecaster

    # ------------------------------------------------------------------ cycle
    async def cycle(self) -> None:
        """Read /state; answer a new observation once."""
        async with self.lock:
            try:
                obs_dict = await asyncio.to_thread(self.client.get_state)
            except (ServerUnavailable, ValueError) as exc:
                self.log.warning("cannot read /state: %s", exc)
                return
            if obs_dict is None:
                if not self.waiting_logged:
                    self.log.info("no observation at /state yet (is the runner started?)")
                    self.waiting_logged = True
                return
            digest = observation_digest(obs_dict)
            if digest == self.answered:
                return
            step = obs_dict.get("step")
            if isinstance(step, int) and self.outbox.known(message_id(self.name, step, digest)):
                self.answered = digest  # answered before a restart
                return
            try:
                await self.answer(obs_dict, digest)
            except Exception:  # a bad observation or an advisor bug: say so once, go on
                self.log.exception("step %s: could not advise", step)
            self.answered = digest

    async def answer(self, obs_dict: dict[str, Any], digest: str) -> None:
        from ..advisors.registry import ADVISORS
        from ..sim.observation import Observation

        obs = Observation.from_dict(obs_dict)
        advisor = ADVISORS.get(self.name)
        if advisor is None:
            self.log.error("no advisor registered under %r; nothing to recommend", self.name)
            return
        forecast: Mapping[str, Any] | None = None
        if self.name == FORECASTER:
            rec = advisor(obs, None)
            if self.send_forecast is not None:
                await self.send_forecast(obs.step, digest, dict(rec.data))
        else:
            forecast = await self.wait_forecast(digest)
            if forecast is None:
                self.log.warning(
                    "step %d: no forecast within %.1f s; advising without it",
                    obs.step,
                    self.cfg.forecast_wait_s,
                )
            rec = advisor(obs, forecast)
        payload = rec.to_dict()
        mid = message_id(self.name, obs.step, digest)
        payload["message_id"] = mid
        payload["timestamp"] = time.strftime(TIMESTAMP_FORMAT, time.gmtime())
        self.outbox.put(mid, payload)
        self.wake_sender.set()

    async def wait_forecast(self, digest: str) -> dict[str, Any] | None:
        if digest in self.forecasts:
            return self.forecasts[digest]
        event = self.forecast_events.setdefault(digest, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), self.cfg.forecast_wait_s)
        except TimeoutError:
            self.forecast_events.pop(digest, None)
            return None
        return self.forecasts.get(digest)

    def on_forecast(self, step: int, digest: str, forecast: dict[str, Any]) -> None:
        self.forecasts[digest] = forecast
        self.forecast_events.setdefault(digest, asyncio.Event()).set()
        # Keep the last few (a forecast may arrive before this agent reads its observation).
        for old in list(self.forecasts)[:-FORECASTS_KEPT]:
            self.forecasts.pop(old, None)
            self.forecast_events.pop(old, None)
        if digest != self.answered and not self.lock.locked():
            asyncio.get_running_loop().create_task(self.cycle())

    # ------------------------------------------------------------------ sender
    async def sender(self) -> None:
        """Post the outbox oldest first; back off while the server does not answer."""
        backoff = Backoff()
        while True:
            items = self.outbox.pending(20)
            if not items:
                self.wake_sender.clear()
                await self.wake_sender.wait()
                continue
            for mid, payload in items:
                self.outbox.attempted(mid)
                res = await asyncio.to_thread(
                    self.client.post_signed, "/receive", payload, self.identity
                )
                if res.ok:
                    self.outbox.ack(mid)
                    backoff.reset()
                    if not self.first_post_logged:
                        self.first_post_logged = True
                        self.log.info(
                            "first recommendation accepted %.2f s after start (step %s)",
                            time.monotonic() - self.started,
                            payload.get("step"),
                        )
                elif res.status == 409 and _field(res.body) == "message_id":
                    # Stored already (by an earlier run of this agent, before a restart).
                    self.outbox.ack(mid)
                    self.log.info("%s: already stored by the server", mid)
                elif res.retryable or res.status == 409:  # 409 here: a replayed nonce
                    delay = backoff.next()
                    self.log.warning(
                        "POST /receive: %s; %d queued, retrying in %.2f s",
                        res.status or res.body,
                        len(self.outbox),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    break
                else:
                    self.outbox.dead(mid, res.status, res.body)
                    self.log.error(
                        "POST /receive refused %s (HTTP %d): %s", mid, res.status, res.body
                    )


def _field(answer: Any) -> str | None:
    """The ``field`` of a server error answer (``{"error", "field", "reason"}``)."""
    return answer.get("field") if isinstance(answer, dict) else None


def build_agent(cfg: AgentConfig):
    """Build the uagents ``Agent`` for ``cfg`` (call in the child process only)."""
    configure_offline()
    from uagents import Agent, Context
    from uagents.resolver import RulesBasedResolver

    from .messages import ForecastMessage

    home = cfg.home
    home.mkdir(parents=True, exist_ok=True)
    os.chdir(home)  # uagents writes <address prefix>_data.json into the working directory
    seed = load_or_create_seed(Path(cfg.data_dir), cfg.name)
    rules = {
        cfg.addresses[n]: f"http://127.0.0.1:{cfg.ports[n]}/submit"
        for n in AGENT_NAMES
        if n != cfg.name and n in cfg.addresses
    }
    agent = Agent(
        name=cfg.name,
        port=cfg.port,
        seed=seed,
        endpoint=[f"http://127.0.0.1:{cfg.port}/submit"],
        resolve=RulesBasedResolver(rules),
        registration_policy=_no_registration_policy(),
        enable_agent_inspector=False,
        mark_inactive_on_shutdown=False,
        report_events=False,
        publish_agent_details=False,
        shutdown_timeout=2.0,
    )
    if agent.address != cfg.addresses.get(cfg.name, agent.address):
        raise RuntimeError(f"{cfg.name}: seed does not match the address in the agents file")
    logger = logging.getLogger(f"energy_agents.agents.{cfg.name}")
    core = AgentCore(cfg, agent._identity, logger)
    known = {cfg.addresses[n]: n for n in AGENT_NAMES if n in cfg.addresses}
    forecaster_address = cfg.addresses.get(FORECASTER)

    if cfg.name == FORECASTER:
        recipients = [cfg.addresses[n] for n in FORECAST_RECIPIENTS if n in cfg.addresses]
        ctx_box: list[Context] = []

        async def send_forecast(step: int, digest: str, data: dict[str, Any]) -> None:
            if not ctx_box:
                return
            msg = ForecastMessage(step=step, obs_digest=digest, forecast_json=json.dumps(data))
            await asyncio.gather(
                *(ctx_box[-1].send(addr, msg, timeout=5) for addr in recipients),
                return_exceptions=True,
            )

        core.send_forecast = send_forecast

        @agent.on_interval(period=cfg.interval_s, messages=ForecastMessage)
        async def tick(ctx: Context) -> None:
            ctx_box[:] = [ctx]
            await core.cycle()

    else:

        @agent.on_interval(period=cfg.interval_s)
        async def tick(ctx: Context) -> None:
            await core.cycle()

        @agent.on_message(model=ForecastMessage)
        async def on_forecast(ctx: Context, sender: str, msg: ForecastMessage) -> None:
            if sender != forecaster_address:
                who = known.get(sender, "unknown sender")
                logger.warning("refused a forecast from %s (%s)", sender, who)
                return
            try:
                data = json.loads(msg.forecast_json)
            except ValueError:
                logger.warning("refused a forecast that is not JSON")
                return
            if isinstance(data, dict):
                logger.debug("forecast for step %d accepted from the forecaster", msg.step)
                core.on_forecast(msg.step, msg.obs_digest, data)

    @agent.on_event("startup")
    async def start_sender(ctx: Context) -> None:
        asyncio.get_running_loop().create_task(core.sender())

    return agent, core


def run_agent(cfg: AgentConfig, parent_pid: int | None = None) -> None:
    """Process target: build the agent here (never in the parent) and run it until signalled."""
    from .procs import (
        die_with_parent,
        interrupt_loop_on_term,
        set_process_name,
        stop_on_term,
        stop_requested,
    )

    die_with_parent(parent_pid)
    stop_on_term()  # a signal during the build is noted, never raised into library code
    set_process_name(cfg.name)
    home = cfg.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "agent.pid").write_text(f"{os.getpid()}\n", encoding="ascii")
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {cfg.name} %(levelname)s %(message)s",
        force=True,
    )
    logging.getLogger("energy_agents").setLevel(cfg.log_level)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    agent, _ = build_agent(cfg)
    interrupt_loop_on_term(loop)
    if not stop_requested():
        with contextlib.suppress(KeyboardInterrupt):
            agent.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # stopped: do not wait for library threads (executors, HTTP pools) to join
