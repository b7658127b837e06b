"""Every strategy on every objective, a full year, side by side (docs/performance.md, "Grid and
carbon"): the CityLearn 2022 homes under ``cost`` and ``citylearn2022``, the synthetic default
(with its demand charge and connection limit) under ``cost`` and ``citylearn2022``.

    .venv/bin/python benchmarks/objectives.py [--data ../shared/data] [--out benchmarks/results/objectives.json]
        [--jobs N] [--days N]

The strategies of a case run side by side in up to ``--jobs`` processes (default: the CPUs).

Prints one markdown table per (scenario, objective) and writes all KPIs as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from energy_agents.runner.timed import default_jobs, run_strategies
from energy_agents.scenarios import load_scenario

STRATEGIES = ("none", "seed", "weighted", "learned", "mpc", "optimal")
COLUMNS = (
    ("objective_value", "J", "{:.4g}"),
    ("savings_capture", "capture", "{:.1%}"),
    ("tokens_spent_ct", "tokens [CT]", "{:.0f}"),
    ("C", "C", "{:.3f}"),
    ("G", "G", "{:.3f}"),
    ("R", "R", "{:.3f}"),
    ("one_minus_L", "1-L", "{:.3f}"),
    ("score", "2022 score", "{:.3f}"),
    ("all_time_peak_ratio", "peak", "{:.2f}x"),
    ("daily_peak_ratio", "daily peak", "{:.2f}x"),
    ("demand_charge_ct", "demand charge [CT]", "{:.0f}"),
    ("limit_violation_kwh", "above limit [kWh]", "{:.1f}"),
    ("wall_s", "run [s]", "{:.1f}"),
)


def cases(data: Path) -> list[tuple[str, str]]:
    city = f"citylearn:{data / 'citylearn_challenge_2022_phase_1'}"
    return [
        (city, "cost"),
        (city, "citylearn2022"),
        ("synthetic", "cost"),
        ("synthetic", "citylearn2022"),
    ]


def run_case(spec: str, objective: str, jobs: int, days: int | None = None) -> dict[str, dict]:
    scenario = load_scenario(spec, objective=objective, days=days)
    runs = run_strategies(
        scenario, list(STRATEGIES), baseline_spent_ct=None, jobs=jobs, progress=False
    )
    rows: dict[str, dict] = {}
    bound = None
    for name, run in runs.items():
        k = dict(run.kpis)  # wall_s: the run's loop, timed in its own process
        k.update({key: v for key, v in (k.pop("citylearn_2022") or {}).items()})
        if name == "optimal":
            bound = run.first_decision_data["lp_bound_ct"]
            k["lp_bound"] = bound
        rows[name] = k
    j_none = rows["none"]["objective_value"]
    for k in rows.values():
        k["savings_capture"] = (
            (j_none - k["objective_value"]) / (j_none - bound) if bound is not None else None
        )
    return rows


def table(rows: dict[str, dict]) -> str:
    head = "| strategy | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for name, k in rows.items():
        cells = []
        for key, _, fmt in COLUMNS:
            v = k.get(key)
            cells.append("-" if v is None else fmt.format(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/objectives.json"))
    ap.add_argument("--jobs", type=int, default=default_jobs(), help="strategies side by side")
    ap.add_argument("--days", type=int, default=None, help="only the first N days (a check)")
    args = ap.parse_args()
    out: dict[str, dict] = {}
    for spec, objective in cases(args.data):
        rows = run_case(spec, objective, args.jobs, args.days)
        key = f"{spec.split('/')[-1]} / {objective}"
        out[key] = rows
        print(f"\n### {key}\n\n{table(rows)}\n", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
