"""Every CityLearn dataset folder under a directory, run whole: `energy-agents compare` with
`none`, `weighted` and `optimal` over its full length, one process per dataset, as a user runs
it. Reports per dataset the exit code, the wall time, the invariants (energy balance, token
conservation), the EV departures below a reachable requirement and the devices' notes.

    .venv/bin/python benchmarks/every_dataset.py --data DIR [--days N] [--out FILE.json]

DIR holds dataset folders (each with a ``schema.json``), for example CityLearn's
``data/datasets``. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STRATEGIES = ("none", "weighted", "optimal")


def run_one(folder: Path, days: int | None, out: Path) -> dict[str, object]:
    cmd = [sys.executable, "-m", "energy_agents.cli", "compare", "--scenario",
           f"citylearn:{folder}", "--strategies", ",".join(STRATEGIES), "--no-progress",
           "--out", str(out)]  # fmt: skip
    if days:
        cmd += ["--days", str(days)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    row: dict[str, object] = {
        "dataset": folder.name,
        "exit_code": done.returncode,
        "wall_s": round(time.perf_counter() - start, 1),
        "notes": [line for line in done.stdout.splitlines() if line.startswith("note:")],
    }
    if done.returncode != 0:
        row["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return row
    rows = json.loads((out / "comparison.json").read_text())
    first = rows["none"]
    row["steps"] = first.get("steps")
    row["max_energy_balance_error_kwh"] = max(
        float(rows[s]["max_energy_balance_error_kwh"]) for s in STRATEGIES
    )
    row["max_token_conservation_error_ct"] = max(
        float(rows[s]["max_token_conservation_error_ct"]) for s in STRATEGIES
    )
    row["ev_short_departures"] = sum(
        int(rows[s].get("ev_short_departures") or 0) for s in STRATEGIES
    )
    row["weighted_capture"] = rows["weighted"].get("savings_capture")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of dataset folders")
    ap.add_argument("--days", type=int, default=None, help="first N days (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    folders = sorted(p.parent for p in args.data.glob("*/schema.json"))
    if not folders:
        print(f"every_dataset: no */schema.json under {args.data}", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            row = run_one(folder, args.days, Path(tmp) / folder.name)
            rows.append(row)
            print(
                f"{row['dataset']:<58} exit {row['exit_code']}  {row['wall_s']:>7} s"
                f"  steps {row.get('steps', '-')}"
                f"  balance {row.get('max_energy_balance_error_kwh', '-')}"
                f"  tokens {row.get('max_token_conservation_error_ct', '-')}"
                f"  EV short {row.get('ev_short_departures', '-')}"
                f"  weighted capture {row.get('weighted_capture', '-')}",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
