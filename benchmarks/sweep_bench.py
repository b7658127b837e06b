"""``energy-agents sweep`` speed: 1 against 2 LocalCluster workers on the same CPU-bound cases
(each a whole ``energy-agents sweep`` process, alternated, so the ratio comes from one run), the
per-task overhead on near-empty cases, and a projection (a projection: nothing here runs on a
cluster) for N cases on W workers.

    .venv/bin/python benchmarks/sweep_bench.py [--data ../shared/data] [--rounds 2]

Writes ``benchmarks/results/sweep_bench.json`` and prints the tables of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "citylearn_mini"


def cpu_sweep(folder: Path, days: int) -> str:
    """8 cases, `weighted` beside its baseline plus the LP bound: CPU-bound Python and HiGHS."""
    return f"""
[sweep]
strategies = ["weighted"]
days = {days}
[tariffs.dc1]
demand_charge_ct_per_kw = 1
[tariffs.dc2]
demand_charge_ct_per_kw = 2
[tariffs.dc3]
demand_charge_ct_per_kw = 3
[[scenarios]]
kind = "citylearn"
path = "{folder}"
members = [4, 5]
"""


def tiny_sweep(n: int) -> str:
    """``n`` near-empty cases (one day of `none` on three homes): what is left is overhead."""
    tariffs = "".join(f"[tariffs.t{i}]\ndemand_charge_ct_per_kw = {i}\n" for i in range(1, n))
    return f"""
[sweep]
strategies = ["none"]
days = 1
{tariffs}
[[scenarios]]
kind = "citylearn"
path = "{FIXTURE}"
"""


def run_sweep(file: Path, out: Path, workers: int) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "energy_agents.cli", "sweep", str(file), "--out", str(out),
         "--workers", str(workers), "--dashboard", ":0", "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    whole = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sweep failed:\n{done.stdout}\n{done.stderr}")
    m = re.search(r"ran (\d+) cases in ([\d.]+) s", done.stdout)
    assert m, done.stdout
    ready = re.search(r"ready in ([\d.]+) s", done.stdout)
    assert ready, done.stdout
    table = pd.read_parquet(out / "results.parquet")
    return {
        "whole_s": whole,
        "cases_s": float(m.group(2)),  # cluster start, all cases, cluster stop
        "cluster_start_s": float(ready.group(1)),
        "sum_case_s": float(table["case_s"].sum()),
        "mean_case_s": float(table["case_s"].mean()),
        "n": len(table),
        "load_avg_1min": [load_before, os.getloadavg()[0]],  # other work on the 2 cores
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tiny", type=int, default=40)
    args = ap.parse_args()
    folder = args.data / "citylearn_challenge_2022_phase_1"
    if not folder.is_dir():
        folder = FIXTURE
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    cpu = tmp / "cpu.toml"
    cpu.write_text(cpu_sweep(folder, args.days))
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for r in range(args.rounds):
        for w in (1, 2):
            runs[w].append(run_sweep(cpu, tmp / f"cpu-{w}-{r}", w))
            print(f"round {r + 1}, {w} worker(s): {runs[w][-1]}", file=sys.stderr)
    tiny = tmp / "tiny.toml"
    tiny.write_text(tiny_sweep(args.tiny))
    t = run_sweep(tiny, tmp / "tiny-1", 1)
    # What a task costs beyond its own work: submit, schedule, pickle, journal (the cluster's
    # start is taken out; its stop is left in, about 0.3 s over all the cases).
    overhead = (t["cases_s"] - t["cluster_start_s"] - t["sum_case_s"]) / t["n"]

    def med(w: int, key: str) -> float:
        return statistics.median(x[key] for x in runs[w])

    result = {
        "dataset": folder.name,
        "days": args.days,
        "cases": runs[1][0]["n"],
        "runs": runs,
        "speedup_whole": med(1, "whole_s") / med(2, "whole_s"),
        "speedup_cases": med(1, "cases_s") / med(2, "cases_s"),
        "mean_case_s": med(1, "mean_case_s"),
        "tiny": t,
        "overhead_per_task_s": overhead,
    }
    out = ROOT / "benchmarks" / "results" / "sweep_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{result['cases']} cases of `weighted` on {folder.name}, {args.days} days, "
          f"median of {args.rounds} alternated rounds")  # fmt: skip
    print("| workers | whole process [s] | sweep (cluster + cases) [s] | sum of case times [s] |")
    print("|---:|---:|---:|---:|")
    for w in (1, 2):
        print(f"| {w} | {med(w, 'whole_s'):.1f} | {med(w, 'cases_s'):.1f} | "
              f"{med(w, 'sum_case_s'):.1f} |")  # fmt: skip
    loads = [x for w in (1, 2) for r in runs[w] for x in r["load_avg_1min"]]
    print(f"load average (1 min) around the runs: {min(loads):.1f}-{max(loads):.1f}")
    print(f"speed-up 1 -> 2 workers: whole process {result['speedup_whole']:.2f}x, "
          f"sweep {result['speedup_cases']:.2f}x")  # fmt: skip
    print(f"per-task overhead: {1000 * overhead:.0f} ms ({t['n']} near-empty cases, 1 worker, "
          f"{t['cases_s']:.1f} s for {t['sum_case_s']:.2f} s of case time, cluster ready in "
          f"{t['cluster_start_s']:.1f} s)")  # fmt: skip
    for w in (1, 2):
        print(f"LocalCluster of {w} ready in {med(w, 'cluster_start_s'):.1f} s")
    # The projection: ideal scheduling of equal cases, each paying the measured overhead.
    case = result["mean_case_s"]
    for n_cases, workers in ((1000, 16), (1000, 64), (10000, 256)):
        hours = math.ceil(n_cases / workers) * (case + overhead) / 3600
        print(f"projection: {n_cases} such cases on {workers} workers: {hours * 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
