"""Our strategies in CityLearn's own simulator beside CityLearn's rules and our own simulator.

Runs with the project's venv (CityLearn runs in its venv, ``bash benchmarks/setup_citylearn_venv.sh``)::

    .venv/bin/python benchmarks/citylearn_run_compare.py \
        [--schema ../shared/data/citylearn_challenge_2022_phase_1/schema.json] [--days 14] \
        [--strategies weighted,seed] [--out benchmarks/results/citylearn_run_compare.json]

Rows: CityLearn's ``ZeroActionBaselineAgent`` (none), ``BusinessAsUsualAgent`` and
``BasicBatteryRBC``; each strategy through ``energy-agents citylearn-run`` (server, the five
advisors in process, CityLearn stepping); the same strategy in our simulator
(``runner.batch.run_batch`` on ``citylearn:FOLDER``, same days and objective). Columns:
CityLearn's ``env.evaluate()`` district KPIs (each building's control/no-control ratio,
averaged over buildings) and the 2022 challenge score on the district net (C, G, D, score);
our simulator has no per-building ``evaluate()``, so its row shows the 2022 terms only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from energy_agents.commands.citylearn_run import run_citylearn, summary
from energy_agents.runner.batch import run_batch
from energy_agents.scenarios import load_scenario

HERE = Path(__file__).resolve().parent
DEFAULT_SCHEMA = (
    HERE.parent.parent.parent / "shared/data/citylearn_challenge_2022_phase_1/schema.json"
)
COLUMNS = (
    "cost_total",
    "carbon_emissions_total",
    "ramping_average",
    "daily_peak_average",
    "district_cost_ratio_C",
    "carbon_ratio_G",
    "grid_D",
    "score_2022",
)
RULES = ("none", "business_as_usual", "basic_battery_rbc")


def ours(schema: Path, strategy: str, days: int | None, objective: str) -> dict:
    scenario = load_scenario(f"citylearn:{schema.parent}", days=days, objective=objective)
    s = run_batch(scenario, strategy).kpis["citylearn_2022"]
    return {
        "district_cost_ratio_C": s["C"],
        "carbon_ratio_G": s["G"],
        "grid_D": s["D"],
        "score_2022": s["score"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    p.add_argument("--days", type=int, default=14, help="first N days (0: the whole year)")
    p.add_argument("--strategies", default="weighted,seed")
    p.add_argument("--objective", default="citylearn2022")
    p.add_argument("--out", type=Path, default=HERE / "results" / "citylearn_run_compare.json")
    args = p.parse_args()
    days = args.days or None
    base = dict(schema=args.schema, live=False, days=days, objective=args.objective)
    base |= dict(deadline=30.0, out=None, strategy="none")
    rows: list[tuple[str, dict, float]] = []
    for rule in RULES:
        t0 = time.perf_counter()
        res = run_citylearn(argparse.Namespace(**base), controller=rule)
        rows.append((f"CityLearn {rule}", summary(res), time.perf_counter() - t0))
    for name in args.strategies.split(","):
        t0 = time.perf_counter()
        res = run_citylearn(argparse.Namespace(**(base | {"strategy": name})))
        rows.append((f"{name} in CityLearn", summary(res), time.perf_counter() - t0))
        t0 = time.perf_counter()
        rows.append((f"{name} in our model", ours(args.schema, name, days, args.objective),
                     time.perf_counter() - t0))  # fmt: skip
    window = f"{days} days" if days else "the whole year"
    print(f"{args.schema.parent.name}, {window}, objective {args.objective}")
    print(f"{'run':28s}" + "".join(f"{c[:12]:>13s}" for c in COLUMNS) + f"{'wall s':>9s}")
    for name, row, wall in rows:
        cells = "".join(
            f"{'-' if row.get(c) is None else format(row[c], '.3f'):>13s}" for c in COLUMNS
        )
        print(f"{name:28s}{cells}{wall:9.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"days": days, "objective": args.objective,
                    "rows": [{"run": n, **r, "wall_s": w} for n, r, w in rows]}, indent=1)
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
