"""Our community model side by side with CityLearn 3.0.2 on the same CityLearn dataset.

Runs with the project's venv; CityLearn runs in its own throwaway venv as a subprocess in the
same invocation (``bash benchmarks/setup_citylearn_venv.sh`` first)::

    .venv/bin/python benchmarks/citylearn_compare.py \
        [--dataset ../shared/data/citylearn_challenge_2022_phase_1] [--members 1000] \
        [--out benchmarks/results/citylearn_compare.json]

What it measures (figures to benchmarks/results/citylearn_compare.json, a table to stdout):

1. The same homes and year in both simulators, each through its own per-step loop:
   (a) no control, (b) PV self-consumption: ours ``Levers(storage_setpoints={"members": -1.0},
   storage_follow=True, p2p_enabled=True)``, CityLearn's ``BusinessAsUsualAgent`` with SOC window
   [0, 1] and no deadband (the same rule), plus CityLearn's default ``BasicRBC``. Cost ratios
   under three definitions (CityLearn 3.0.2's ``evaluate()`` cost_total, the 2022 challenge's
   district-netted one that our ``citylearn_cost_ratio`` implements, and the sum of per-building
   clipped costs), the hourly district net against CityLearn's CSV, and the wall times ->
   "x times faster".
2. Building-steps per second of our model at ``--members`` members over a year of hourly steps
   with a fixed active decision (member and community storages charging and discharging, P2P
   on, a burn rate) through ``Community.observe()`` + ``Community.step(levers)``, against
   CityLearn's per-building rate from the same invocation -> ratio.

The data is read with ``energy_agents.scenarios.load_scenario("citylearn:PATH")`` when the
project has it, otherwise with the minimal private loader below (following
../shared/data/README.md: load kWh, PV = W/kW x nominal kW / 1000, battery 6.4 kWh / 5 kW,
efficiency 0.9 applied on both charge and discharge, SOC starts at 0, import price from
pricing.csv as day-ahead and imbalance prices, feed-in 0).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from energy_agents.sim import (
    MEMBER_BATTERIES,
    Community,
    Levers,
    Prices,
    Scenario,
    StorageBank,
    compute_kpis,
)

HERE = Path(__file__).resolve().parent
# The shared data folder beside the project checkout (../shared in this workplace).
DEFAULT_DATASET = str(
    Path(__file__).resolve().parents[2] / "shared" / "data" / "citylearn_challenge_2022_phase_1"
)
CITYLEARN_PY = HERE / ".venv-citylearn" / "bin" / "python"
CITYLEARN_RULES = "none,basic_rbc,pv_self_consumption,business_as_usual"


# ----------------------------------------------------------------------------- loading
def private_citylearn_loader(folder: Path, eta_each_side: float | None = None) -> Scenario:
    """The minimal CityLearn reader used when the project has no ``citylearn:`` loader yet.

    ``eta_each_side`` overrides the efficiency applied on each side (default: the schema's
    ``efficiency``, i.e. 0.9 in and 0.9 out)."""
    schema = json.loads((folder / "schema.json").read_text())
    names, loads, pvs, caps, powers, etas = [], [], [], [], [], []
    price = None
    for name, b in schema["buildings"].items():
        if not b.get("include", True):
            continue
        with (folder / b["energy_simulation"]).open() as fh:
            rows = list(csv.DictReader(fh))
        load = np.array([float(r["non_shiftable_load"]) for r in rows])
        pv_nominal = float(((b.get("pv") or {}).get("attributes") or {}).get("nominal_power", 0.0))
        pv = np.array([float(r["solar_generation"]) for r in rows]) * pv_nominal / 1000.0
        st = (b.get("electrical_storage") or {}).get("attributes") or {}
        names.append(name)
        loads.append(load)
        pvs.append(pv)
        caps.append(float(st.get("capacity", 0.0)))
        powers.append(float(st.get("nominal_power", 0.0)))
        etas.append(float(st.get("efficiency", 0.9)) if eta_each_side is None else eta_each_side)
        if price is None:
            with (folder / b["pricing"]).open() as fh:
                price = np.array([float(r["electricity_pricing"]) for r in csv.DictReader(fh)])
    n = len(loads[0])
    assert price is not None
    da = price[:n]
    zeros = np.zeros(len(names))
    batteries = StorageBank(
        tuple(names),
        np.array(caps),
        np.array(powers),
        np.array(etas),
        np.array(etas),
        zeros,
        np.ones(len(names)),
        zeros,
    )
    return Scenario(
        name=f"citylearn:{folder.name}",
        start="2021-07-31T23:00:00",  # first row: month 7, hour 24 (the data has no year)
        dt_h=1.0,
        member_names=tuple(names),
        load_kwh=np.column_stack(loads),
        pv_kwh=np.column_stack(pvs),
        prices=Prices(
            day_ahead=da, imbalance_buy=da.copy(), imbalance_sell=da.copy(), feed_in=np.zeros(n)
        ),
        member_batteries=batteries,
        community_storages=StorageBank.empty(),
        flexible_share=np.zeros(len(names)),
    )


def load_dataset(folder: Path, which: str = "auto") -> tuple[Scenario, str]:
    """The project's ``citylearn:`` loader when it exists (``auto``/``project``), else the private one."""
    if which == "private":
        return private_citylearn_loader(folder), "private loader (benchmarks/citylearn_compare.py)"
    try:
        from energy_agents.scenarios import load_scenario

        return load_scenario(f"citylearn:{folder}"), "energy_agents.scenarios.load_scenario"
    except Exception as exc:  # the project loader is missing or still being written
        if which == "project":
            raise
        reason = f"{type(exc).__name__}: {exc}"
        return private_citylearn_loader(
            folder
        ), f"private loader (project loader unavailable: {reason})"


# ----------------------------------------------------------------------------- our runs
def run_ours(scenario: Scenario, levers: Levers, repeats: int = 1) -> dict:
    """The per-step loop every strategy uses (``observe()`` then ``step(levers)``), ``repeats``
    times (the model is deterministic, so only the wall time varies); also records per-member
    net consumption for the cost-ratio variants."""
    walls, cpus = [], []
    for _ in range(max(1, repeats)):
        community = Community(scenario)
        member_net = np.zeros((scenario.n_steps, scenario.n_members))
        battery = np.zeros((scenario.n_steps, scenario.n_members))
        t0, c0 = time.perf_counter(), time.process_time()
        while not community.done:
            community.observe()
            r = community.step(levers)
            member_net[r.step] = r.served_kwh - scenario.pv_kwh[r.step] + r.battery_kwh
            battery[r.step] = r.battery_kwh
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "community": community,
        "member_net": member_net,
        "battery": battery,
        "wall_s": float(np.median(walls)),
        "wall_s_all": walls,
        "cpu_s": float(np.median(cpus)),
        "cpu_s_all": cpus,
        "kpis": compute_kpis(community),
    }


def cost_ratios(price: np.ndarray, net: np.ndarray, net0: np.ndarray) -> dict:
    """Three cost-ratio definitions over ``(n_steps, n_buildings)`` nets with and without storage."""
    c = np.clip(net, 0, None) * price[:, None]
    c0 = np.clip(net0, 0, None) * price[:, None]
    per_b = [
        float(c[:, i].sum() / c0[:, i].sum()) for i in range(net.shape[1]) if c0[:, i].sum() > 0
    ]
    return {
        "citylearn3_evaluate_mean_of_buildings": float(np.mean(per_b)),
        "district_netted_2022": float(
            np.clip(price * net.sum(1), 0, None).sum() / np.clip(price * net0.sum(1), 0, None).sum()
        ),
        "district_sum_of_building_clipped": float(c.sum() / c0.sum()),
        "per_building": per_b,
    }


def fixed_active_levers(scenario: Scenario) -> Levers:
    """A fixed decision that keeps every part of the step busy: all storages follow (charge on
    surplus, discharge on deficit), P2P on, a burn rate for demand response."""
    return Levers(
        burn_rate_ct_per_kwh=0.5 * scenario.max_burn_rate_ct_per_kwh,
        storage_setpoints={name: -1.0 for name in scenario.storage_names},
        storage_follow=True,
        p2p_enabled=True,
    )


def bench_members(n_members: int, n_steps: int, which: str = "auto") -> dict:
    scenario = None
    builder = ""
    if which in ("auto", "synthetic"):
        try:
            from energy_agents.scenarios import load_scenario

            scn = load_scenario("synthetic", members=n_members)
            if scn.n_steps < n_steps:
                raise ValueError(f"synthetic has {scn.n_steps} steps < {n_steps}")
            scenario = scn.head(n_steps)
            builder = 'energy_agents.scenarios.load_scenario("synthetic")'
        except Exception as exc:
            if which == "synthetic":
                raise
            builder = f"(synthetic unavailable: {type(exc).__name__}: {exc}) "
    if scenario is None:
        from energy_agents.scenarios.tiny import tiny_scenario

        scenario = tiny_scenario(n_members=n_members, n_steps=n_steps)
        builder += "energy_agents.scenarios.tiny.tiny_scenario"
    levers = fixed_active_levers(scenario)
    community = Community(scenario)
    t0, c0 = time.perf_counter(), time.process_time()
    while not community.done:
        community.observe()
        community.step(levers)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    k = compute_kpis(community)
    return {
        "builder": builder,
        "members": n_members,
        "steps": n_steps,
        "community_storages": scenario.community_storages.n,
        "members_with_battery": int((scenario.member_batteries.capacity_kwh > 0).sum()),
        "levers": levers.to_dict(),
        "wall_s": wall,
        "cpu_s": cpu,
        "building_steps_per_s": n_members * n_steps / wall,
        "building_steps_per_cpu_s": n_members * n_steps / cpu,
        "p2p_kwh": k["p2p_kwh"],
        "storage_cycles": k["storage_cycles"],
        "burned_ct": k["burned_ct"],
    }


# ----------------------------------------------------------------------------- CityLearn
def run_citylearn(folder: Path, rules: str, out_dir: Path) -> dict:
    if not CITYLEARN_PY.exists():
        raise SystemExit(
            f"{CITYLEARN_PY} missing: run `bash benchmarks/setup_citylearn_venv.sh` first"
        )
    out = out_dir / "citylearn_reference.json"
    cmd = [
        str(CITYLEARN_PY),
        str(HERE / "citylearn_reference.py"),
        "--dataset",
        str(folder),
        "--rules",
        rules,
        "--hourly-rules",
        "pv_self_consumption,basic_rbc",
        "--hourly-dir",
        str(out_dir),
        "--out",
        str(out),
    ]
    env = dict(os.environ, CITYLEARN_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    print(f"CityLearn subprocess done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return json.loads(out.read_text())


def read_hourly(path: Path) -> dict[str, np.ndarray]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=DEFAULT_DATASET)
    ap.add_argument(
        "--members", type=int, default=1000, help="members for the building-steps/s benchmark"
    )
    ap.add_argument("--steps", type=int, default=8760)
    ap.add_argument("--citylearn-rules", default=CITYLEARN_RULES)
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="repeats of our 5-home runs (median wall time reported)",
    )
    ap.add_argument(
        "--loader",
        choices=("auto", "project", "private"),
        default="auto",
        help="CityLearn data reader: the project's load_scenario or this script's own",
    )
    ap.add_argument(
        "--member-scenario",
        choices=("auto", "synthetic", "tiny"),
        default="auto",
        help="community for the building-steps/s benchmark (auto: synthetic if it builds, else tiny)",
    )
    ap.add_argument(
        "--citylearn-json",
        default=None,
        help="reuse a citylearn_reference.json instead of running CityLearn (development only: "
        "the timings are then not from the same invocation)",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "citylearn_compare.json"))
    args = ap.parse_args(argv)
    folder = Path(args.dataset).expanduser().resolve()
    out_dir = Path(args.out).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)

    # CityLearn first (its own process, same machine, same invocation).
    if args.citylearn_json:
        cl = json.loads(Path(args.citylearn_json).read_text())
        cl["reused_from"] = args.citylearn_json
    else:
        cl = run_citylearn(folder, args.citylearn_rules, out_dir)
    cl_runs = cl["runs"]

    scenario, loader = load_dataset(folder, args.loader)
    mb = scenario.member_batteries
    rules = {
        "none": Levers(),
        "pv_self_consumption": Levers(
            storage_setpoints={MEMBER_BATTERIES: -1.0}, storage_follow=True, p2p_enabled=True
        ),
    }
    ours = {name: run_ours(scenario, lv, args.repeats) for name, lv in rules.items()}
    # Sensitivity: CityLearn's efficiency convention (sqrt(0.9) on each side = 0.9 round trip).
    sens_scn = private_citylearn_loader(folder, eta_each_side=float(np.sqrt(0.9)))
    ours_sqrt = run_ours(sens_scn, rules["pv_self_consumption"])

    # CityLearn simulates one hour less than the data holds (8,759 env steps for 8,760 rows):
    # compare cost ratios over the hours both simulated.
    n_cl = int(cl_runs["none"]["hours_in_kpis"]) if "none" in cl_runs else scenario.n_steps
    price = scenario.prices.day_ahead[:n_cl]
    net0 = scenario.load_kwh[:n_cl] - scenario.pv_kwh[:n_cl]

    def ratios_of(run: dict) -> dict:
        full = run["kpis"]["citylearn_cost_ratio"]
        r = cost_ratios(price, run["member_net"][:n_cl], net0)
        r["ours_kpi_citylearn_cost_ratio_full_year"] = full
        c = run["community"].results
        r["ours_kpi_citylearn_cost_ratio_same_hours"] = float(
            c["city_cost_ct"][:n_cl].sum() / c["city_base_cost_ct"][:n_cl].sum()
        )
        b = run["battery"][:n_cl]
        r["battery_charge_kwh"] = float(np.clip(b, 0, None).sum())
        r["battery_discharge_kwh"] = float(np.clip(-b, 0, None).sum())
        return r

    ratios = {name: ratios_of(run) for name, run in ours.items()}
    ratios["pv_self_consumption_eta_sqrt0.9"] = ratios_of(ours_sqrt)

    # Hourly district net against CityLearn's CSV (PV self-consumption rule).
    hourly_cmp = {}
    hourly_dir = Path(args.citylearn_json).resolve().parent if args.citylearn_json else out_dir
    cl_csv = hourly_dir / "citylearn_hourly_pv_self_consumption.csv"
    if cl_csv.exists():
        h = read_hourly(cl_csv)
        n = min(len(h["step"]), n_cl)
        ours_net = ours["pv_self_consumption"]["member_net"][:n].sum(1)
        ours_sqrt_net = ours_sqrt["member_net"][:n].sum(1)
        hourly_cmp = {
            "hours": n,
            "without_storage_max_abs_diff_kwh": float(
                np.abs(net0[:n].sum(1) - h["district_net_without_storage_kwh"][:n]).max()
            ),
            "price_max_abs_diff": float(np.abs(price[:n] - h["price"][:n]).max()),
            "with_storage_mae_kwh": float(np.abs(ours_net - h["district_net_kwh"][:n]).mean()),
            "with_storage_max_abs_diff_kwh": float(
                np.abs(ours_net - h["district_net_kwh"][:n]).max()
            ),
            "with_storage_mae_kwh_eta_sqrt0.9": float(
                np.abs(ours_sqrt_net - h["district_net_kwh"][:n]).mean()
            ),
            "district_import_kwh": {
                "ours": float(np.clip(ours_net, 0, None).sum()),
                "citylearn": float(np.clip(h["district_net_kwh"][:n], 0, None).sum()),
            },
            "district_export_kwh": {
                "ours": float(np.clip(-ours_net, 0, None).sum()),
                "citylearn": float(np.clip(-h["district_net_kwh"][:n], 0, None).sum()),
            },
        }

    cl_pv = cl_runs.get("pv_self_consumption", {})
    cl_none = cl_runs.get("none", {})
    ours_pv_wall = ours["pv_self_consumption"]["wall_s"]
    bench = bench_members(args.members, args.steps, args.member_scenario)

    n_b = scenario.n_members
    same_homes = {
        "homes": n_b,
        "ours_steps": scenario.n_steps,
        "citylearn_env_steps": cl_pv.get("env_steps"),
        "ours_wall_s": {k: v["wall_s"] for k, v in ours.items()},
        "ours_wall_s_all_repeats": {k: v["wall_s_all"] for k, v in ours.items()},
        "citylearn_wall_s": {k: v["wall_s"] for k, v in cl_runs.items()},
        "ours_building_steps_per_s": {
            k: n_b * scenario.n_steps / v["wall_s"] for k, v in ours.items()
        },
        "x_faster_pv_self_consumption": cl_pv["wall_s"] / ours_pv_wall if cl_pv else None,
        "x_faster_none": cl_none["wall_s"] / ours["none"]["wall_s"] if cl_none else None,
        "ours_cpu_s": {k: v["cpu_s"] for k, v in ours.items()},
        "citylearn_cpu_s": {k: v.get("cpu_s") for k, v in cl_runs.items()},
        "x_faster_cpu_pv_self_consumption": cl_pv["cpu_s"] / ours["pv_self_consumption"]["cpu_s"]
        if cl_pv.get("cpu_s")
        else None,
        "x_faster_cpu_none": cl_none["cpu_s"] / ours["none"]["cpu_s"]
        if cl_none.get("cpu_s")
        else None,
        "load_average_1min_at_end": os.getloadavg()[0],
        "target_x_faster": 20,
    }
    per_building = {
        "ours_members": bench["members"],
        "ours_building_steps_per_s": bench["building_steps_per_s"],
        "citylearn_building_steps_per_s": {
            k: v["building_steps_per_s"] for k, v in cl_runs.items()
        },
        "ratio_vs_citylearn_pv_self_consumption": bench["building_steps_per_s"]
        / cl_pv["building_steps_per_s"]
        if cl_pv
        else None,
        "ratio_vs_citylearn_none": bench["building_steps_per_s"] / cl_none["building_steps_per_s"]
        if cl_none
        else None,
        "ours_building_steps_per_cpu_s": bench["building_steps_per_cpu_s"],
        "citylearn_building_steps_per_cpu_s": {
            k: v.get("building_steps_per_cpu_s") for k, v in cl_runs.items()
        },
        "ratio_cpu_vs_citylearn_pv_self_consumption": bench["building_steps_per_cpu_s"]
        / cl_pv["building_steps_per_cpu_s"]
        if cl_pv.get("building_steps_per_cpu_s")
        else None,
        "target_ratio": 1000,
    }
    cost: dict[str, Any] = {
        "citylearn": {
            k: {
                "cost_total_evaluate": v["cost_total"],
                "district_netted_2022": v["cost_ratio_district_netted_2022"],
                "district_sum_of_building_clipped": v[
                    "cost_ratio_district_sum_of_building_clipped"
                ],
                "building_cost_total": v["building_cost_total"],
                "battery_charge_kwh": v.get("battery_charge_kwh"),
                "battery_discharge_kwh": v.get("battery_discharge_kwh"),
            }
            for k, v in cl_runs.items()
        },
        "ours": ratios,
        "hours_compared": n_cl,
    }
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "dataset": str(folder),
        "loader": loader,
        "citylearn_version": cl.get("citylearn_version"),
        "citylearn_same_invocation": "reused_from" not in cl,
        "ours_battery": {
            "capacity_kwh": mb.capacity_kwh.tolist(),
            "power_kw": mb.power_kw.tolist(),
            "eta_charge": mb.eta_charge.tolist(),
            "eta_discharge": mb.eta_discharge.tolist(),
            "soc_init": mb.soc_init.tolist(),
        },
        "same_homes_year": same_homes,
        "building_steps_per_s": per_building,
        "member_bench": bench,
        "cost_ratio": cost,
        "hourly_district_net_pv_self_consumption": hourly_cmp,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    # ---- table
    def f(x, fmt="{:.4f}"):
        return "-" if x is None else fmt.format(x)

    print(
        f"\nCityLearn {cl.get('citylearn_version')} vs energy_agents on {folder.name} ({n_b} homes); loader: {loader}"
    )
    print(f"{'':34}{'ours':>12}{'CityLearn':>12}{'ratio':>10}   (CPU s: ours / CityLearn / ratio)")
    for k in ("none", "pv_self_consumption"):
        cw = cl_runs.get(k, {}).get("wall_s")
        cc = cl_runs.get(k, {}).get("cpu_s")
        oc = ours[k]["cpu_s"]
        print(
            f"{'wall s, ' + k:34}{f(ours[k]['wall_s'], '{:.3f}'):>12}{f(cw, '{:.2f}'):>12}"
            f"{f(cw / ours[k]['wall_s'] if cw else None, '{:.0f}x'):>10}   ({oc:.3f} / {f(cc, '{:.2f}')} / {f(cc / oc if cc else None, '{:.0f}x')})"
        )
    cl_rate = cl_pv.get("building_steps_per_s")
    print(
        f"{'building-steps/s (' + str(bench['members']) + ' members)':34}{f(bench['building_steps_per_s'], '{:.3g}'):>12}"
        f"{f(cl_rate, '{:.0f}'):>12}{f(per_building['ratio_vs_citylearn_pv_self_consumption'], '{:.0f}x'):>10}"
        f"   (per CPU s: {bench['building_steps_per_cpu_s']:.3g} / {f(cl_pv.get('building_steps_per_cpu_s'), '{:.0f}')} / "
        f"{f(per_building['ratio_cpu_vs_citylearn_pv_self_consumption'], '{:.0f}x')})"
    )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"\ncost ratio over the {n_cl} h both simulate{'':>11}{'ours':>12}{'CityLearn':>12}")
    for label, key, clkey in (
        (
            "CityLearn 3.0.2 evaluate() cost_total",
            "citylearn3_evaluate_mean_of_buildings",
            "cost_total_evaluate",
        ),
        ("district-netted (2022; our KPI)", "district_netted_2022", "district_netted_2022"),
        (
            "sum of per-building clipped costs",
            "district_sum_of_building_clipped",
            "district_sum_of_building_clipped",
        ),
    ):
        print(f"  {label}")
        for rule in ("none", "pv_self_consumption"):
            print(
                f"{'    ' + rule:46}{f(ratios[rule][key]):>12}{f(cost['citylearn'].get(rule, {}).get(clkey)):>12}"
            )
    sq = ratios["pv_self_consumption_eta_sqrt0.9"]
    print(
        f"{'  ours with eta sqrt(0.9) each side, pv_self':46}{f(sq['district_netted_2022']):>12}{'(netted)':>12}"
    )
    for rule in ("basic_rbc", "business_as_usual"):
        if rule in cl_runs:
            b = cl_runs[rule]
            print(
                f"{'  CityLearn ' + rule + ': cost_total / netted':46}{'':>12}{f(b['cost_total']):>12} / {f(b['cost_ratio_district_netted_2022'])}"
            )
    if hourly_cmp:
        print(
            f"\nhourly district net, pv_self_consumption: without storage max |diff| {hourly_cmp['without_storage_max_abs_diff_kwh']:.2g} kWh; "
            f"with storage MAE {hourly_cmp['with_storage_mae_kwh']:.3f} kWh (max {hourly_cmp['with_storage_max_abs_diff_kwh']:.2f})"
        )
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
