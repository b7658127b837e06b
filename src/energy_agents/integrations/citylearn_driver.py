"""CityLearn's own simulator, stepped by the AI Manager's decisions (or by CityLearn's own rules).

Runs with the CityLearn venv's python, by file path (``benchmarks/setup_citylearn_venv.sh``)::

    benchmarks/.venv-citylearn/bin/python src/energy_agents/integrations/citylearn_driver.py \
        --schema PATH --server http://127.0.0.1:PORT --strategy weighted --days 14 --out run.json

It imports only CityLearn, the client SDK (``energy_agents.client``) and the mapping beside it.
Each step: CityLearn's observation -> our observation (:mod:`citylearn_map`), ``POST /state``,
wait until the five advisors answered this observation (``/messages``, message ids carry the
observation digest) or the deadline, the decision from ``POST /decisions``, its levers -> battery
actions, ``env.step``. ``--controller`` runs one of CityLearn's own rules instead (no server).
The result file holds ``env.evaluate()``, the district net series with and without storage,
prices, carbon, every step's SOCs and decision, so the caller can score it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

try:  # inside our package (tests, mypy)
    from energy_agents.integrations import citylearn_map as cmap
except ImportError:  # run by file path in CityLearn's venv: the mapping is beside this file
    import citylearn_map as cmap  # type: ignore[no-redef]

CONTROLLERS = ("server", "none", "business_as_usual", "basic_battery_rbc")


def _agent(controller: str, env: Any) -> Any:
    from citylearn.agents.baseline import BusinessAsUsualAgent, ZeroActionBaselineAgent
    from citylearn.agents.rbc import BasicBatteryRBC

    return {
        "none": ZeroActionBaselineAgent,
        "business_as_usual": BusinessAsUsualAgent,
        "basic_battery_rbc": BasicBatteryRBC,
    }[controller](env)


def _action_kwh(storage: Any, seconds_per_time_step: float) -> float | None:
    """The energy CityLearn moves for an action of 1.0: by nominal power where this CityLearn
    scales so (3.0.2's ``Building.update_electrical_storage``), else None (by capacity)."""
    try:
        from citylearn.internal.units import normalized_power_action_to_energy_kwh
    except ImportError:
        return None
    kwh = float(
        normalized_power_action_to_energy_kwh(1.0, storage.nominal_power, seconds_per_time_step)
    )
    return kwh if kwh > 0 else None


def _batteries(env: Any) -> tuple[cmap.Battery, ...]:
    out = []
    for b in env.buildings:
        s = b.electrical_storage
        out.append(
            cmap.Battery(
                capacity_kwh=float(s.capacity),
                power_kw=float(s.nominal_power),
                efficiency=float(s.efficiency),
                soc_min=1.0 - float(s.depth_of_discharge),
                action_kwh=_action_kwh(s, float(b.seconds_per_time_step)),
                capacity_power_curve=tuple(
                    (float(x), float(y)) for x, y in zip(*s.capacity_power_curve, strict=True)
                ),
            )
        )
    return tuple(out)


class Decider:
    """Publishes each observation and waits for the step's decision, through the SDK."""

    def __init__(self, server: str, strategy: str, deadline_s: float, agents: list[str]) -> None:
        from energy_agents.client.http import ServerClient
        from energy_agents.client.ids import observation_digest

        self.client = ServerClient(server, timeout=30.0)
        self.digest = observation_digest
        self.strategy, self.deadline_s, self.agents = strategy, deadline_s, set(agents)
        self.late = 0

    def decide(self, obs: dict[str, Any]) -> dict[str, Any]:
        step = obs["step"]
        res = self.client.post_signed("/state", {"observation": obs}, None)
        if not res.ok:
            raise RuntimeError(f"POST /state refused (HTTP {res.status}): {res.body}")
        published = self.client.get_state() or obs
        suffix = f":{step}:{self.digest(published)[:16]}"
        deadline = time.monotonic() + self.deadline_s
        while True:
            got = {
                str(m.get("agent_name"))
                for m in self.client.get_messages(step)
                if str(m.get("message_id", suffix)).endswith(suffix)
            }
            if self.agents <= got or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if not self.agents <= got:
            self.late += 1
        decision = self.client.request_decision(step, self.strategy)  # decides step once
        if decision.step not in (None, step):
            raise RuntimeError(f"the server answered step {decision.step} for {step}")
        return dict(decision.raw)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from citylearn.citylearn import CityLearnEnv

    kwargs: dict[str, Any] = {"central_agent": False}
    if args.days:
        kwargs["episode_time_steps"] = 24 * args.days
    env = CityLearnEnv(str(args.schema), **kwargs)
    observations, _ = env.reset()
    batteries = _batteries(env)
    names = tuple(b.name for b in env.buildings)
    n_steps = int(env.episode_tracker.episode_time_steps)
    builder = cmap.ObservationBuilder(
        names=names,
        batteries=batteries,
        n_steps=n_steps,
        start=args.start,
        dt_h=env.seconds_per_time_step / 3600.0,
        tariff=json.loads(args.tariff_json),
        objective=json.loads(args.objective_json),
    )
    pricing = env.buildings[0].pricing.electricity_pricing
    carbon = env.buildings[0].carbon_intensity.carbon_intensity
    start = int(env.episode_tracker.episode_start_time_step)
    decider = (
        Decider(args.server, args.strategy, args.deadline, [a for a in args.agents.split(",") if a])
        if args.controller == "server"
        else None
    )
    agent = None if decider else _agent(args.controller, env)
    steps: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    while not env.terminated:
        t = env.time_step
        obs_names = env.observation_names
        bsteps = [cmap.building_steps(obs_names[i], observations[i]) for i in range(len(names))]
        record: dict[str, Any] = {"step": t}
        if decider is not None:
            obs = builder.observation(bsteps, list(pricing[start + t : start + t + 24]))
            decision = decider.decide(obs)
            params = decision["parameters"]
            actions = cmap.actions_from_levers(
                params, bsteps, batteries, builder.dt_h, metering=args.metering
            )
            record.update(
                parameters=params, action=decision.get("action"), missing=decision.get("missing")
            )
        else:
            params = None
            actions = [float(a[0]) for a in agent.predict(observations)]
        observations, _, _, _, _ = env.step([[a] for a in actions])
        # CityLearn's series are indexed by time step (the one just simulated is t).
        net = [float(b.net_electricity_consumption[t]) for b in env.buildings]
        builder.record(bsteps, net, float(pricing[start + t]), float(carbon[start + t]), params)
        record.update(
            actions=actions,
            soc=[float(b.electrical_storage.soc[t]) for b in env.buildings],
        )
        steps.append(record)
    wall = time.perf_counter() - t0
    kpis = env.evaluate()
    district = kpis[kpis["level"] == "district"]
    evaluate = {
        str(r.cost_function): (None if r.value != r.value else float(r.value))
        for r in district.itertuples()
    }
    n = len(steps)
    net_ctrl = _district(b.net_electricity_consumption for b in env.buildings)[:n]
    net_base = _district(b.net_electricity_consumption_without_storage for b in env.buildings)[:n]
    return {
        "controller": args.controller,
        "metering": args.metering,
        "strategy": args.strategy if decider else None,
        "n_steps": n,
        "buildings": list(names),
        "wall_s": wall,
        "late_steps": decider.late if decider else 0,
        "evaluate": evaluate,
        "net_kwh": net_ctrl,
        "net_no_storage_kwh": net_base,
        "price": [float(x) for x in pricing[start : start + n]],
        "carbon": [float(x) for x in carbon[start : start + n]],
        "capacity_kwh": [b.capacity_kwh for b in batteries],
        "steps": steps,
    }


def _district(series: Any) -> list[float]:
    """Sum of the buildings' series, step by step."""
    return [float(sum(xs)) for xs in zip(*series, strict=True)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schema", type=Path, required=True)
    p.add_argument("--controller", choices=CONTROLLERS, default="server")
    p.add_argument("--server", default="http://127.0.0.1:9000")
    p.add_argument("--strategy", default="weighted")
    p.add_argument("--days", type=int, default=None)
    p.add_argument("--start", default="2022-08-01 00:00:00", help="timestamp of step 0")
    p.add_argument("--deadline", type=float, default=10.0)
    p.add_argument("--agents", default="", help="comma-separated advisors to wait for")
    p.add_argument("--tariff-json", default="{}")
    p.add_argument("--objective-json", default="{}")
    p.add_argument("--metering", choices=cmap.METERINGS, default="district")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if not args.schema.is_file():
        print(f"citylearn driver: --schema {args.schema}: no such file", file=sys.stderr)
        return 1
    result = run(args)
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
