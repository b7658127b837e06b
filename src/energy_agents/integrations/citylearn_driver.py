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
import contextlib
import csv
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:  # inside our package (tests, mypy)
    from energy_agents.integrations import citylearn_map as cmap
except ImportError:  # run by file path in CityLearn's venv: the mapping is beside this file
    import citylearn_map as cmap  # type: ignore[no-redef]

CONTROLLERS = ("server", "none", "business_as_usual", "basic_battery_rbc")
# Our autosizing tables (scenarios/data), beside this file in the source tree.
TABLES = Path(__file__).resolve().parents[1] / "scenarios" / "data"


def citylearn_misc_dir(root: Path) -> Path:
    """Our autosizing choice tables under the file names CityLearn's ``DataSet`` looks for
    (``CITYLEARN_LOCAL_MISC_PATH``), so that autosizing reads them instead of downloading LBNL's
    PV table and its battery table from GitHub (docs/integrations.md)."""
    misc = root / "misc"
    misc.mkdir(exist_ok=True)
    batteries: dict[str, Any] = {}
    with (TABLES / "battery_choices.csv").open() as f:
        for row in csv.DictReader(f):
            model = row.pop("model")
            batteries[model] = {"attributes": {k: float(v) if v else None for k, v in row.items()}}
    # YAML is a superset of JSON: CityLearn's yaml reader takes this as battery_choices.yaml.
    (misc / "battery_choices.yaml").write_text(json.dumps(batteries, indent=1))
    (misc / "lbl-tracking_the_sun-res-pv.csv").write_text((TABLES / "pv_designs.csv").read_text())
    return misc


def _offline(server: str) -> None:
    """CityLearn calls nothing out: its offline mode, and sockets refused except to loopback
    and to the AI Manager at ``server``."""
    os.environ["CITYLEARN_OFFLINE"] = "1"
    connect = socket.socket.connect
    allowed = {"127.0.0.1", "::1", "localhost"}
    host = urlsplit(server).hostname
    if host:  # the server by name and by its addresses (a connect is given an address)
        allowed.add(host)
        with contextlib.suppress(OSError):  # unresolvable: the client's connect error names it
            allowed.update(str(info[4][0]) for info in socket.getaddrinfo(host, None))

    def to_allowed_only(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in allowed:
            raise OSError(f"citylearn driver: no network at run time (asked for {host})")
        connect(self, address)

    socket.socket.connect = to_allowed_only  # type: ignore[method-assign]


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
                name=str(b.name),
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


# (use, its device attribute, its demand series, the device heats): CityLearn's thermal storages.
_USES = (
    ("cooling", "cooling_device", "cooling_demand", False),
    ("heating", "heating_device", "heating_demand", True),
    ("dhw", "dhw_device", "dhw_demand", True),
)


def _devices(b: Any) -> list[tuple[str, Any, str, bool]]:
    """A building's heat pumps and heaters that serve a demand: (use, device, demand, heats)."""
    out = []
    for use, attr, demand, heats in _USES:
        device = getattr(b, attr, None)
        if device is not None and float(getattr(device, "nominal_power", 0.0) or 0.0) > 0:
            out.append((use, device, demand, heats))
    return out


def _is_heat_pump(device: Any) -> bool:
    return hasattr(device, "get_cop")


def _device_kwh(b: Any, t: int) -> float:
    """The electricity the building's devices draw to serve step ``t``'s demands as they come."""
    temp = float(b.weather.outdoor_dry_bulb_temperature[t])
    total = 0.0
    for _use, device, demand, heats in _devices(b):
        q = float(getattr(b, demand)[t])
        if q > 0:
            power = (
                device.get_input_power(q, temp, heats)
                if _is_heat_pump(device)
                else (device.get_input_power(q))
            )
            total += float(power)
    return total


def _tanks(env: Any) -> tuple[cmap.Tank, ...]:
    """Every thermal storage with a capacity and a device to charge it, as our loader reads
    them (``scenarios.citylearn_tanks``)."""
    out = []
    for i, b in enumerate(env.buildings):
        for use, _device, _demand, _heats in _devices(b):
            st = getattr(b, f"{use}_storage", None)
            if st is None or float(st.capacity or 0.0) <= 0:
                continue
            out.append(
                cmap.Tank(
                    f"{b.name}/{use}",
                    i,
                    use,
                    float(st.capacity),
                    float(st.efficiency),
                    float(st.loss_coefficient),
                )
            )
    return tuple(out)


def _tank_states(env: Any, tanks: tuple[cmap.Tank, ...], t: int) -> list[cmap.TankState]:
    """Each tank before step ``t``: its SOC, its device's COP, the demand and the device's
    largest output of its use."""
    out = []
    for k in tanks:
        b = env.buildings[k.member]
        use, device, demand, heats = next(d for d in _devices(b) if d[0] == k.use)
        st = getattr(b, f"{use}_storage")
        soc = float(st.soc[t - 1]) if t > 0 else float(st.initial_soc)
        temp = float(b.weather.outdoor_dry_bulb_temperature[t])
        if _is_heat_pump(device):
            cop = float(device.get_cop(temp, heats))
            top = float(device.get_max_output_power(temp, heats))
        else:
            cop = float(device.efficiency)
            top = float(device.get_max_output_power())
        out.append(cmap.TankState(soc, cop, float(getattr(b, demand)[t]), top))
    return out


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


def _listed(names: list[str]) -> str:
    """Names as a list, or their count when there are many (a neighbourhood's buildings)."""
    return ", ".join(names) if len(names) <= 6 else f"{len(names)} buildings"


def citylearn_schema(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The schema CityLearn is given, and what was changed in it: the washing machines go
    (CityLearn 3.0.2 cannot read the 2022 EV dataset's washing-machine files, a KeyError on
    ``washing_machine_start_time_step``, and our model does not use them either, so both sides
    simulate the same devices); the files are read from the schema's own folder."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    changes = []
    machines = [
        n for n, b in schema.get("buildings", {}).items() if b.pop("washing_machines", None)
    ]
    for section in ("observations", "actions"):
        for key in [k for k in schema.get(section) or {} if k.startswith("washing_machine")]:
            del schema[section][key]
    if machines:
        changes.append(f"washing machines removed ({_listed(machines)})")
    # The mapping reads these from CityLearn's observation (observations change no physics).
    shown = []
    for key in cmap.OBSERVED:
        spec = (schema.get("observations") or {}).get(key)
        hidden = any(
            key in (b.get("inactive_observations") or []) for b in schema["buildings"].values()
        )
        if isinstance(spec, dict) and (not spec.get("active") or hidden):
            spec["active"] = True
            for b in schema["buildings"].values():
                if key in (b.get("inactive_observations") or []):
                    b["inactive_observations"].remove(key)
            shown.append(key)
    if shown:
        changes.append(f"observations activated for the mapping ({', '.join(shown)})")
    # The LSTM building dynamics need torch (not installed), and so do the occupant-interaction
    # buildings built on them (their occupants move the setpoints the LSTM answers): the plain
    # Building serves the recorded thermal demands, as our model does (docs/integrations.md).
    dynamic = []
    for name, b in schema.get("buildings", {}).items():
        kind = str(b.get("type", ""))
        if "Dynamics" in kind or "Occupant" in kind or b.get("dynamics"):
            b["type"] = "citylearn.building.Building"
            b.pop("dynamics", None)
            b.pop("occupant", None)
            dynamic.append(name)
    if dynamic:
        changes.append(
            "LSTM building dynamics (and occupant interaction) replaced by the recorded thermal"
            f" demand ({_listed(dynamic)})"
        )
    root = (
        path.parent / str(schema["root_directory"]) if schema.get("root_directory") else path.parent
    )
    schema["root_directory"] = str(root.resolve())
    return schema, changes


def _chargers(env: Any) -> tuple[cmap.Charger, ...]:
    return tuple(
        cmap.Charger(
            str(c.charger_id),
            i,
            float(c.max_charging_power),
            float(c.max_discharging_power),
            float(c.efficiency),
            float(c.min_charging_power or 0.0),
            float(c.min_discharging_power or 0.0),
        )
        for i, b in enumerate(env.buildings)
        for c in (b.electric_vehicle_chargers or [])
    )


def _building_actions(
    action_names: list[str],
    battery: float,
    ev: dict[str, float],
    thermal: dict[str, float] | None = None,
) -> list[float]:
    """One building's action vector in CityLearn's order (0 for devices we do not drive);
    ``thermal``: its tanks' actions by CityLearn action name (``dhw_storage``...)."""
    out = []
    for name in action_names:
        if name == "electrical_storage":
            out.append(battery)
        elif thermal and name in thermal:
            out.append(thermal[name])
        elif name.startswith("electric_vehicle_storage_"):
            out.append(ev.get(name[len("electric_vehicle_storage_") :], 0.0))
        else:
            out.append(0.0)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from citylearn.citylearn import CityLearnEnv

    kwargs: dict[str, Any] = {"central_agent": False}
    if args.days:
        kwargs["episode_time_steps"] = 24 * args.days
    schema, changes = citylearn_schema(args.schema)
    _offline(args.server)
    tables = tempfile.TemporaryDirectory(prefix="citylearn-misc-")
    os.environ.setdefault("CITYLEARN_LOCAL_MISC_PATH", str(citylearn_misc_dir(Path(tables.name))))
    try:
        env = CityLearnEnv(schema, offline=True, **kwargs)
    except Exception as exc:  # CityLearn's own errors: one line naming the schema, exit 1
        raise SystemExit(
            f"citylearn driver: CityLearn could not load {args.schema}: {type(exc).__name__}: {exc}"
        ) from None
    observations, _ = env.reset()
    batteries = _batteries(env)
    chargers = _chargers(env)
    tanks = _tanks(env)
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
        chargers=chargers,
        tanks=tanks,
    )
    dt_h = env.seconds_per_time_step / 3600.0
    sessions = {  # steps left per row of each charger's file: when its EV really leaves
        str(c.charger_id): cmap.session_steps_left(
            [float(x) for x in c.charger_simulation.electric_vehicle_charger_state],
            [str(x) for x in c.charger_simulation.electric_vehicle_id],
            [float(x) for x in c.charger_simulation.electric_vehicle_departure_time],
        )
        for b in env.buildings
        for c in (b.electric_vehicle_chargers or [])
    }
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
    departures: dict[str, Any] = {
        "ev_departures": 0,
        "ev_short_departures": 0,
        "ev_shortfall_kwh": 0.0,
        "ev_short": [],
    }
    # CityLearn's EV battery loses after the charger: plan with the worst case of its curve,
    # and lower it where a step showed worse (_learn_efficiency).
    worst = min(
        (float(min(ev.battery.power_efficiency_curve[1])) for ev in env.electric_vehicles or []),
        default=1.0,
    )
    eff = {c.name: c.efficiency * worst**0.5 for c in chargers}
    t0 = time.perf_counter()
    while not env.terminated:
        t = env.time_step
        obs_names = env.observation_names
        bsteps = [
            cmap.building_steps(obs_names[i], observations[i], _device_kwh(env.buildings[i], t))
            for i in range(len(names))
        ]
        tstates = _tank_states(env, tanks, t) if tanks else []
        evs = [
            st
            for i in range(len(names))
            for st in cmap.ev_states(
                obs_names[i],
                observations[i],
                [c for c in chargers if c.member == i],
                dt_h,
                [sessions[c.name][start + t] for c in chargers if c.member == i],
            )
        ]
        record: dict[str, Any] = {"step": t}
        live = tuple(replace(c, efficiency=eff[c.name]) for c in chargers)
        builder.chargers = live
        flows = [0.0] * len(chargers)
        if decider is not None:
            obs = builder.observation(
                bsteps, list(pricing[start + t : start + t + 24]), evs, tstates
            )
            decision = decider.decide(obs)
            params = decision["parameters"]
            # As in our model: the tanks shift their devices' electricity first, then the EVs
            # and the batteries see the home's residual.
            tank_kwh = cmap.tank_electricity_kwh(params, tanks, tstates, len(names), dt_h)
            own = [b.load - b.solar_generation + x for b, x in zip(bsteps, tank_kwh, strict=True)]
            flows = cmap.ev_flows(params, live, evs, own, dt_h)
            per_home = [
                sum(f for f, c in zip(flows, chargers, strict=True) if c.member == i)
                for i in range(len(names))
            ]
            battery = cmap.actions_from_levers(
                params,
                bsteps,
                batteries,
                builder.dt_h,
                metering=args.metering,
                ev_kwh=per_home,
                tank_kwh=tank_kwh,
            )
            tank_act = cmap.tank_actions(params, tanks)
            thermal: list[dict[str, float]] = [{} for _ in names]
            for k in tanks:
                thermal[k.member][k.action] = tank_act[k.name]
            ev_act = dict(
                zip((c.name for c in chargers), cmap.ev_actions(flows, chargers, dt_h), strict=True)
            )
            actions = [
                _building_actions(env.action_names[i], battery[i], ev_act, thermal[i])
                for i in range(len(names))
            ]
            record.update(
                parameters=params, action=decision.get("action"), missing=decision.get("missing")
            )
        else:
            params = None
            actions = [[float(x) for x in a] for a in agent.predict(observations)]
        observations, _, _, _, _ = env.step(actions)
        _count_departures(env, chargers, evs, t, departures)
        _learn_efficiency(env, chargers, evs, flows, t, eff)
        # CityLearn's series are indexed by time step (the one just simulated is t).
        net = [float(b.net_electricity_consumption[t]) for b in env.buildings]
        builder.record(
            bsteps,
            net,
            float(pricing[start + t]),
            float(carbon[start + t]),
            params,
            [st.demand_kwh for st in tstates],
            evs,
        )
        record.update(
            actions=[x for a in actions for x in a],  # every building's, in action_names order
            soc=[float(b.electrical_storage.soc[t]) for b in env.buildings],
            tank_soc=[float(getattr(env.buildings[k.member], k.action).soc[t]) for k in tanks],
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
        "chargers": [c.name for c in chargers],
        "tanks": [k.name for k in tanks],
        **departures,
        "schema_changes": changes,
        "steps": steps,
    }


def _count_departures(
    env: Any, chargers: tuple[cmap.Charger, ...], states: list[Any], t: int, out: dict[str, Any]
) -> None:
    """After step ``t``: each EV leaving now against the energy it required (CityLearn's own
    EV battery, read from the charger's record of step ``t``)."""
    by_name = {
        str(c.charger_id): c for b in env.buildings for c in (b.electric_vehicle_chargers or [])
    }
    for ch, st in zip(chargers, states, strict=True):
        if not st.connected or st.steps_left != 1 or st.required_kwh <= 0:
            continue
        ev = by_name[ch.name].past_connected_evs[t]
        if ev is None:
            continue
        short = max(st.required_kwh - float(ev.battery.soc[t]) * st.capacity_kwh, 0.0)
        out["ev_departures"] += 1
        if short > 1e-3 * st.capacity_kwh:  # 0.1 % of capacity
            out["ev_short_departures"] += 1
            out["ev_short"].append({"step": t, "charger": ch.name, "short_kwh": short})
        out["ev_shortfall_kwh"] += short


def _learn_efficiency(
    env: Any,
    chargers: tuple[cmap.Charger, ...],
    states: list[Any],
    flows: list[float],
    t: int,
    eff: dict[str, float],
) -> None:
    """The energy an EV stored per kWh its charger drew, from CityLearn's own record of step
    ``t``. CityLearn's EV battery applies its own power-dependent efficiency (the square root
    of its ``power_efficiency_curve``, and degradation) after the charger's (measured: 0.886
    more at 5.5 kW on the 2022 EVs), which the schema's charger ``efficiency`` does not say;
    the next steps plan with the lowest seen."""
    by_name = {
        str(c.charger_id): c for b in env.buildings for c in (b.electric_vehicle_chargers or [])
    }
    for ch, st, f in zip(chargers, states, flows, strict=True):
        if not st.connected or f <= 0.1 or st.capacity_kwh <= 0:
            continue
        ev = by_name[ch.name].past_connected_evs[t]
        if ev is None:
            continue
        stored = float(ev.battery.soc[t]) * st.capacity_kwh - st.energy_kwh
        if stored < 0.999 * st.capacity_kwh - st.energy_kwh:  # not capped by a full battery
            eff[ch.name] = min(eff[ch.name], max(stored / f, 0.3))


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
