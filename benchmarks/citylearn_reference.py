"""CityLearn 3.0.2 reference runs on a local CityLearn dataset folder (offline, full episode).

Runs with the throwaway venv (``bash benchmarks/setup_citylearn_venv.sh`` first); it does not
import ``energy_agents``::

    benchmarks/.venv-citylearn/bin/python benchmarks/citylearn_reference.py \
        [--dataset ../shared/data/citylearn_challenge_2022_phase_1] [--rules none,basic_rbc,...] \
        [--out benchmarks/results/citylearn_reference.json] [--hourly-dir benchmarks/results]

Per rule it builds a fresh ``CityLearnEnv`` from the folder's ``schema.json`` *path* (never a
dataset name, so CityLearn's GitHub download path is never taken; ``offline=True`` and
``CITYLEARN_OFFLINE=1`` are set and outgoing sockets are refused as a guard), runs the whole
episode with the usual observe -> ``agent.predict`` -> ``env.step`` loop, and reports:

- wall time of the step loop (and separately of loading and of ``env.evaluate()``), and the
  process CPU time of the loop (less sensitive to other jobs on a shared machine),
- building-steps per second = buildings x steps / loop wall time (and per CPU second),
- ``env.evaluate()``: the district and per-building KPIs, ``cost_total`` in particular,
- the same cost ratio recomputed from the per-building series (checks our reading of the
  source, see benchmarks/README.md) and two other definitions for comparison: the 2022
  challenge's district-netted one and the per-building-clipped district sum,
- the battery model parameters CityLearn drew for each building (efficiency and power curves).

Rules (``--rules``):

- ``none``: zero actions (``citylearn.agents.baseline.ZeroActionBaselineAgent``);
- ``basic_rbc``: ``citylearn.agents.rbc.BasicRBC``, the default RBC (hour-of-day schedule);
- ``basic_battery_rbc``: ``citylearn.agents.rbc.BasicBatteryRBC`` (solar-hours charge schedule);
- ``pv_self_consumption``: ``citylearn.agents.baseline.BusinessAsUsualAgent`` with
  ``storage_min_soc=0, storage_max_soc=1, storage_deadband_kw=0``: each battery absorbs its
  home's PV surplus and covers its deficit up to the rated power, i.e. the same rule as our
  ``Levers(storage_setpoints={"members": -1.0}, storage_follow=True)``;
- ``business_as_usual``: the same class with its defaults (SOC window 0.2-0.9, 0.05 kW deadband),
  CityLearn 3's own "NormalPolicy" PV self-consumption baseline.

For the rules in ``--hourly-rules`` (default ``pv_self_consumption``) the per-hour district net
consumption with and without storage is written to ``<hourly-dir>/citylearn_hourly_<rule>.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("CITYLEARN_OFFLINE", "1")

# The shared data folder beside the project checkout (../shared in this workplace).
DEFAULT_DATASET = str(
    Path(__file__).resolve().parents[2] / "shared" / "data" / "citylearn_challenge_2022_phase_1"
)
HERE = Path(__file__).resolve().parent
ALL_RULES = ("none", "basic_rbc", "basic_battery_rbc", "pv_self_consumption", "business_as_usual")


def _block_network() -> None:
    """Refuse every outgoing connection: the run must work from the local folder alone."""

    def refuse(*_args, **_kwargs):
        raise OSError("citylearn_reference: network access is disabled (offline benchmark)")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def _make_agent(rule: str, env):
    from citylearn.agents.baseline import BusinessAsUsualAgent, ZeroActionBaselineAgent
    from citylearn.agents.rbc import BasicBatteryRBC, BasicRBC

    if rule == "none":
        return ZeroActionBaselineAgent(env)
    if rule == "basic_rbc":
        return BasicRBC(env)
    if rule == "basic_battery_rbc":
        return BasicBatteryRBC(env)
    if rule == "pv_self_consumption":
        return BusinessAsUsualAgent(
            env, storage_min_soc=0.0, storage_max_soc=1.0, storage_deadband_kw=0.0
        )
    if rule == "business_as_usual":
        return BusinessAsUsualAgent(env)
    raise SystemExit(f"unknown rule {rule!r}; choose from {', '.join(ALL_RULES)}")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _battery_metadata(building) -> dict:
    b = building.electrical_storage
    pec = b.power_efficiency_curve
    cpc = b.capacity_power_curve
    return {
        "capacity_kwh": float(b.capacity),
        "nominal_power_kw": float(b.nominal_power),
        "efficiency_nominal": float(b.efficiency_history[0]),
        "initial_soc": float(b.initial_soc),
        "depth_of_discharge": float(b.depth_of_discharge),
        "loss_coefficient_per_h": float(b.loss_coefficient),
        "capacity_loss_coefficient": float(b.capacity_loss_coefficient),
        "power_efficiency_curve": [
            [float(x), float(y)] for x, y in zip(pec[0], pec[1], strict=True)
        ],
        "capacity_power_curve": [[float(x), float(y)] for x, y in zip(cpc[0], cpc[1], strict=True)],
        "degraded_capacity_end_kwh": float(b.degraded_capacity),
        "efficiency_min_used": float(
            min(b.efficiency_history[1:], default=b.efficiency_history[0])
        ),
        "efficiency_max_used": float(
            max(b.efficiency_history[1:], default=b.efficiency_history[0])
        ),
    }


def run_rule(schema_path: Path, rule: str, hourly_csv: Path | None) -> dict:
    import numpy as np
    from citylearn.citylearn import CityLearnEnv

    t0 = time.perf_counter()
    env = CityLearnEnv(str(schema_path), offline=True, central_agent=False)
    agent = _make_agent(rule, env)
    observations, _ = env.reset()
    t_loaded = time.perf_counter()
    cpu0 = time.process_time()
    n_buildings = len(env.buildings)
    env_steps = 0
    done = False
    while not done:
        actions = agent.predict(observations)
        observations, _, terminated, truncated, _ = env.step(actions)
        env_steps += 1
        done = bool(terminated or truncated)
    t_run = time.perf_counter()
    cpu_run = time.process_time() - cpu0
    kpis = env.evaluate()
    t_eval = time.perf_counter()

    # The series CityLearn's cost KPIs are built from (one value per simulated hour).
    price = [
        np.asarray(b.pricing.electricity_pricing[: b.time_step + 1], dtype=float)
        for b in env.buildings
    ]
    net = [np.asarray(b.net_electricity_consumption, dtype=float) for b in env.buildings]
    net0 = [
        np.asarray(b.net_electricity_consumption_without_storage, dtype=float)
        for b in env.buildings
    ]
    cost = [np.asarray(b.net_electricity_consumption_cost, dtype=float) for b in env.buildings]
    cost0 = [
        np.asarray(b.net_electricity_consumption_cost_without_storage, dtype=float)
        for b in env.buildings
    ]
    n_hours = len(net[0])
    p = price[0]
    district_net, district_net0 = np.sum(net, axis=0), np.sum(net0, axis=0)

    # CityLearn 3.0.2 evaluate(): per-building ratio of positive-clipped cost sums, district = mean.
    building_ratio = [
        _ratio(float(np.clip(c, 0, None).sum()), float(np.clip(c0, 0, None).sum()))
        for c, c0 in zip(cost, cost0, strict=True)
    ]
    recomputed = float(np.mean([r for r in building_ratio if r is not None]))
    # The 2022 challenge definition: price x district net, netted across buildings each hour.
    netted = _ratio(
        float(np.clip(p * district_net, 0, None).sum()),
        float(np.clip(p * district_net0, 0, None).sum()),
    )
    # District sum of per-building clipped costs (what evaluate_v2's cost_control/baseline totals use).
    summed = _ratio(float(np.sum(cost)), float(np.sum(cost0)))

    district = kpis[kpis["level"] == "district"].set_index("cost_function")["value"]
    per_building = {
        name: grp.set_index("cost_function")["value"].to_dict()
        for name, grp in kpis[kpis["level"] == "building"].groupby("name")
    }
    charge = [
        float(np.clip(np.asarray(b.electrical_storage_electricity_consumption), 0, None).sum())
        for b in env.buildings
    ]
    discharge = [
        float(np.clip(-np.asarray(b.electrical_storage_electricity_consumption), 0, None).sum())
        for b in env.buildings
    ]

    if hourly_csv is not None:
        hourly_csv.parent.mkdir(parents=True, exist_ok=True)
        storage = np.sum(
            [
                np.asarray(b.electrical_storage_electricity_consumption, dtype=float)
                for b in env.buildings
            ],
            axis=0,
        )
        soc = np.sum(
            [
                np.asarray(b.electrical_storage.soc[:n_hours], dtype=float)
                * b.electrical_storage.capacity
                for b in env.buildings
            ],
            axis=0,
        )
        with hourly_csv.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "step",
                    "price",
                    "district_net_kwh",
                    "district_net_without_storage_kwh",
                    "storage_terminal_kwh",
                    "stored_energy_kwh",
                ]
            )
            for t in range(n_hours):
                w.writerow(
                    [
                        t,
                        f"{p[t]:.6g}",
                        f"{district_net[t]:.6f}",
                        f"{district_net0[t]:.6f}",
                        f"{storage[t]:.6f}",
                        f"{soc[t]:.6f}",
                    ]
                )

    def _f(x):
        return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else float(x)

    return {
        "rule": rule,
        "agent_class": f"{type(agent).__module__}.{type(agent).__name__}",
        "buildings": n_buildings,
        "env_steps": env_steps,
        "hours_in_kpis": n_hours,
        "load_s": t_loaded - t0,
        "wall_s": t_run - t_loaded,
        "evaluate_s": t_eval - t_run,
        "cpu_s": cpu_run,
        "building_steps_per_s": n_buildings * env_steps / (t_run - t_loaded),
        "building_steps_per_cpu_s": n_buildings * env_steps / cpu_run,
        "cost_total": _f(district.get("cost_total")),
        "cost_total_recomputed_mean_of_buildings": recomputed,
        "cost_ratio_district_netted_2022": netted,
        "cost_ratio_district_sum_of_building_clipped": summed,
        "cost_control_sum": float(np.sum(cost)),
        "cost_without_storage_sum": float(np.sum(cost0)),
        "building_cost_total": {k: _f(v.get("cost_total")) for k, v in per_building.items()},
        "district_kpis": {k: _f(v) for k, v in district.items()},
        "battery_charge_kwh": float(sum(charge)),
        "battery_discharge_kwh": float(sum(discharge)),
        "district_import_kwh": float(np.clip(district_net, 0, None).sum()),
        "district_export_kwh": float(np.clip(-district_net, 0, None).sum()),
        "batteries": {b.name: _battery_metadata(b) for b in env.buildings},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--dataset", default=DEFAULT_DATASET, help="CityLearn dataset folder (with schema.json)"
    )
    ap.add_argument(
        "--rules",
        default=",".join(ALL_RULES),
        help=f"comma-separated subset of {','.join(ALL_RULES)}",
    )
    ap.add_argument(
        "--hourly-rules",
        default="pv_self_consumption",
        help="rules whose hourly district series go to CSV",
    )
    ap.add_argument("--hourly-dir", default=str(HERE / "results"))
    ap.add_argument(
        "--out",
        default=str(HERE / "results" / "citylearn_reference.json"),
        help="JSON output ('-' for stdout only)",
    )
    args = ap.parse_args(argv)

    _block_network()
    import citylearn

    folder = Path(args.dataset).expanduser().resolve()
    schema_path = folder / "schema.json" if folder.is_dir() else folder
    if not schema_path.is_file():
        print(f"citylearn_reference: no schema.json at {schema_path}", file=sys.stderr)
        return 1
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    hourly = {r.strip() for r in args.hourly_rules.split(",") if r.strip()}
    runs = {}
    for rule in rules:
        csv_path = (
            Path(args.hourly_dir) / f"citylearn_hourly_{rule}.csv" if rule in hourly else None
        )
        runs[rule] = run_rule(schema_path, rule, csv_path)
        r = runs[rule]
        print(
            f"{rule:>20}: {r['wall_s']:7.2f} s (cpu {r['cpu_s']:6.2f} s)  {r['building_steps_per_s']:8.0f} building-steps/s  "
            f"cost_total {r['cost_total']:.4f}  (netted-2022 {r['cost_ratio_district_netted_2022']:.4f})",
            file=sys.stderr,
        )
    report = {
        "citylearn_version": getattr(citylearn, "__version__", None),
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "dataset": str(folder),
        "schema": str(schema_path),
        "offline": True,
        "runs": runs,
    }
    text = json.dumps(report, indent=2)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
