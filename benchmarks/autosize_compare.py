"""Our autosized PV and batteries against CityLearn 3.0.2's own autosize, per building.

Runs with the project's venv; CityLearn runs in its throwaway venv as a subprocess of the same
invocation (``bash benchmarks/setup_citylearn_venv.sh`` first, which installs ``nrel-pysam``
into that venv: CityLearn's PV autosizing runs SAM's PVWatts)::

    .venv/bin/python benchmarks/autosize_compare.py \
        [--dataset ../shared/data/vt_chittenden_county_neighborhood] [--seed N] [--no-simulate] \
        [--out benchmarks/results/autosize_compare.json]

Both sides read the same ``schema.json`` with the same seed (the schema's ``random_seed`` by
default) and the same choice tables: ``src/energy_agents/scenarios/data/battery_choices.csv``
(a copy of CityLearn's ``battery_choices.yaml``) and ``pv_designs.csv``, handed to CityLearn
through ``CITYLEARN_LOCAL_MISC_PATH`` under the names it looks for. CityLearn samples its PV
design from LBNL's Tracking the Sun table (``lbl-tracking_the_sun-res-pv.csv``), which is not
available offline (it is missing from the repository snapshot we have); with our one-row design
table both sides use the same design, and the comparison measures everything else: the demand
estimate (heat pump COPs from the seeded draws), the seeded draws themselves, the battery choice
rule and pvlib's PVWatts against SAM's.

CityLearn side (``--reference``, in its venv, offline, sockets refused): ``CityLearnEnv`` on the
schema dict with ``dynamics`` removed and ``citylearn.building.LSTMDynamicsBuilding`` aliased to
``Building`` (the LSTM dynamics need torch, not installed; autosizing never reads them; the
building *type string* stays in the schema because it is part of CityLearn's device seeds).

It also times ``energy-agents simulate --scenario citylearn:DATASET --strategy weighted`` for the
dataset's year (wall time of the whole CLI process), unless ``--no-simulate``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# $ENERGY_AGENTS_DATA, else the shared data folder beside the project checkout (../shared).
DEFAULT_DATASET = str(
    Path(
        os.environ.get("ENERGY_AGENTS_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    / "vt_chittenden_county_neighborhood"
)
CITYLEARN_PY = HERE / ".venv-citylearn" / "bin" / "python"
TOLERANCE = 0.10


def _misc_dir(tmp: Path) -> Path:
    """Our choice tables under the file names CityLearn's DataSet looks for (the driver's)."""
    from energy_agents.integrations.citylearn_driver import citylearn_misc_dir

    return citylearn_misc_dir(tmp)


def reference(dataset: Path, seed: int | None, out: Path) -> None:
    """CityLearn 3.0.2's autosize (run in its venv; never imports energy_agents)."""
    os.environ["CITYLEARN_OFFLINE"] = "1"

    def refuse(*_a: Any, **_k: Any) -> None:
        raise OSError("autosize_compare: network access is disabled (offline benchmark)")

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    import citylearn.building as cb
    from citylearn.citylearn import CityLearnEnv
    from citylearn.data import DataSet

    cache = Path(DataSet().cache_directory) / "misc"  # a cached copy would win over ours
    for name in ("battery_choices.yaml", "lbl-tracking_the_sun-res-pv.csv"):
        (cache / name).unlink(missing_ok=True)
    cb.LSTMDynamicsBuilding = cb.Building  # type: ignore[misc]
    schema = json.loads((dataset / "schema.json").read_text())
    schema["root_directory"] = str(dataset)
    for spec in schema["buildings"].values():
        spec["dynamics"] = None
    t0 = time.perf_counter()
    kwargs = {} if seed is None else {"random_seed": seed}
    env = CityLearnEnv(schema, offline=True, **kwargs)
    load_s = time.perf_counter() - t0
    rows = {}
    for b in env.buildings:
        pv_cfg, bat_cfg = b.pv.autosize_config or {}, b.electrical_storage.autosize_config or {}
        rows[b.name] = {
            "pv_kw": float(b.pv.nominal_power),
            "pv_share": pv_cfg.get("zero_net_energy_proportion"),
            "annual_demand_kwh": float(pv_cfg.get("demand", float("nan"))),
            "yield_kwh_per_kw": float(sum(b.energy_simulation.solar_generation)) / 1000.0,
            "battery_kwh": float(b.electrical_storage.capacity),
            "battery_kw": float(b.electrical_storage.nominal_power),
            "battery_model": bat_cfg.get("model"),
            "battery_hours": bat_cfg.get("duration"),
            "daily_peak_kw": bat_cfg.get("demand"),
        }
    import citylearn

    out.write_text(
        json.dumps(
            {
                "citylearn": citylearn.__version__,
                "seed": env.random_seed,
                "load_s": load_s,
                "buildings": rows,
            },
            indent=1,
        )  # fmt: skip
    )


def ours(dataset: Path, seed: int | None) -> tuple[dict[str, dict[str, Any]], float]:
    from energy_agents.scenarios.citylearn import autosized_devices

    t0 = time.perf_counter()
    sized = autosized_devices(dataset, seed=seed)
    elapsed = time.perf_counter() - t0
    rows = {}
    for name, r in sized.items():
        pv, bat = r.pv, r.battery
        rows[name] = {
            "pv_kw": 0.0 if pv is None else pv.nominal_kw,
            "pv_share": None if pv is None else pv.share,
            "annual_demand_kwh": None if pv is None else pv.annual_demand_kwh,
            "yield_kwh_per_kw": None if pv is None else float(pv.w_per_kw.sum()) / 1000.0,
            "battery_kwh": 0.0 if bat is None else bat.capacity_kwh,
            "battery_kw": 0.0 if bat is None else bat.power_kw,
            "battery_model": None if bat is None else bat.model,
            "battery_hours": None if bat is None else bat.hours,
            "daily_peak_kw": None if bat is None else bat.demand_kw,
        }
    return rows, elapsed


def _rel(a: float, b: float) -> float:
    return abs(a - b) / b if b else (0.0 if a == b else float("inf"))


def simulate_seconds(dataset: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "energy_agents", "simulate", "--scenario",
               f"citylearn:{dataset}", "--strategy", "weighted", "--out", tmp]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=tmp)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=DEFAULT_DATASET)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "autosize_compare.json"))
    ap.add_argument("--no-simulate", action="store_true")
    ap.add_argument("--reference", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args()
    dataset = Path(args.dataset).resolve()
    if args.reference:
        reference(dataset, args.seed, Path(args.reference))
        return
    if not CITYLEARN_PY.is_file():
        sys.exit(f"{CITYLEARN_PY} missing: run `bash benchmarks/setup_citylearn_venv.sh` first")
    probe = subprocess.run([str(CITYLEARN_PY), "-c", "import PySAM.Pvwattsv8"], check=False)
    if probe.returncode:
        sys.exit(f"PySAM missing in {CITYLEARN_PY}: run `bash benchmarks/setup_citylearn_venv.sh`")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ref_json = tmp / "reference.json"
        env = {**os.environ, "CITYLEARN_LOCAL_MISC_PATH": str(_misc_dir(tmp))}
        env.pop("PYTHONPATH", None)
        cmd = [str(CITYLEARN_PY), __file__, "--dataset", str(dataset), "--reference", str(ref_json)]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=tmp)
        ref_wall = time.perf_counter() - t0
        ref = json.loads(ref_json.read_text())
    mine, our_s = ours(dataset, args.seed)
    table = []
    for name, theirs in ref["buildings"].items():
        me = mine[name]
        table.append(
            {
                "building": name,
                "ours": me,
                "citylearn": theirs,
                "pv_rel_diff": _rel(me["pv_kw"], theirs["pv_kw"]),
                "battery_rel_diff": _rel(me["battery_kwh"], theirs["battery_kwh"]),
                "same_battery_model": me["battery_model"] == theirs["battery_model"],
            }
        )
    pv_d = [r["pv_rel_diff"] for r in table]
    bat_d = [r["battery_rel_diff"] for r in table]
    yields = [r["ours"]["yield_kwh_per_kw"] / r["citylearn"]["yield_kwh_per_kw"] for r in table]
    summary = {
        "buildings": len(table),
        "pv_within_10pct": sum(d <= TOLERANCE for d in pv_d),
        "battery_within_10pct": sum(d <= TOLERANCE for d in bat_d),
        "pv_max_rel_diff": max(pv_d),
        "pv_mean_rel_diff": sum(pv_d) / len(pv_d),
        "battery_max_rel_diff": max(bat_d),
        "same_battery_model": sum(r["same_battery_model"] for r in table),
        "pv_total_kw": [
            sum(r["ours"]["pv_kw"] for r in table),
            sum(r["citylearn"]["pv_kw"] for r in table),
        ],  # fmt: skip
        "battery_total_kwh": [
            sum(r["ours"]["battery_kwh"] for r in table),
            sum(r["citylearn"]["battery_kwh"] for r in table),
        ],  # fmt: skip
        "yield_ratio_ours_over_sam": [min(yields), max(yields)],
        "our_autosize_s": our_s,
        "citylearn_load_s": ref["load_s"],
        "citylearn_subprocess_s": ref_wall,
    }
    if not args.no_simulate:
        summary["simulate_weighted_s"] = simulate_seconds(dataset)
    result = {
        "dataset": str(dataset),
        "seed": ref["seed"],
        "citylearn": ref["citylearn"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "summary": summary,
        "per_building": table,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"{'building':<42} {'PV ours':>8} {'PV CL':>8} {'diff':>6} {'bat ours':>8} {'bat CL':>8}")
    for r in table:
        print(
            f"{r['building']:<42} {r['ours']['pv_kw']:8.2f} {r['citylearn']['pv_kw']:8.2f} "
            f"{r['pv_rel_diff']:6.1%} {r['ours']['battery_kwh']:8.2f} "
            f"{r['citylearn']['battery_kwh']:8.2f}"
        )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
