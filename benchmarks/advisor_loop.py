"""The five-advisor loop side by side: whole ``energy-agents simulate`` processes of two (or
more) source trees, alternating, on the same machine in one invocation::

    .venv/bin/python benchmarks/advisor_loop.py --tree main=/path/to/main/src \\
        --tree branch=src [--strategy weighted] [--objective citylearn2022] [--days N] \\
        [--rounds 2] [--scenario citylearn:../shared/data/citylearn_challenge_2022_phase_1] \\
        [--members N (synthetic)] [--out FILE.json]

Each round runs every tree once (``PYTHONPATH=TREE python -m energy_agents simulate ...``),
in the given order, then the next round in the same order. Per run: the whole process's
wall time (start to exit: imports, the scenario, the no-control run, the strategy's run, the
report) and the strategy loop's own ``wall_s`` from ``kpis.json``, with its time per step.
Also checks that every tree's ``kpis.json`` has the same tokens spent and objective value as
the first tree's (speed work must not change results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SCENARIO = (
    f"citylearn:{HERE.parent.parent / 'shared' / 'data' / 'citylearn_challenge_2022_phase_1'}"
)


def run_once(tree: Path, args: argparse.Namespace, out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "energy_agents", "simulate", "--scenario", args.scenario]
    cmd += ["--strategy", args.strategy, "--no-progress", "--out", str(out)]
    if args.objective:
        cmd += ["--objective", args.objective]
    if args.days:
        cmd += ["--days", str(args.days)]
    if args.members:
        cmd += ["--members", str(args.members)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    whole = time.perf_counter() - t0
    kpis = json.loads((out / "kpis.json").read_text())
    steps = int(kpis["steps"])
    return {
        "process_s": whole,
        "loop_s": float(kpis["wall_s"]),
        "loop_ms_per_step": 1e3 * float(kpis["wall_s"]) / steps,
        "steps": steps,
        "tokens_spent_ct": float(kpis["tokens_spent_ct"]),
        "objective_value": float(kpis["objective_value"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH of a src tree")
    ap.add_argument("--scenario", default=DEFAULT_SCENARIO)
    ap.add_argument("--strategy", default="weighted")
    ap.add_argument("--objective", default="citylearn2022")
    ap.add_argument("--days", type=int, default=0)
    ap.add_argument("--members", type=int, default=0, help="synthetic: members (default 20)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the runs as JSON here")
    args = ap.parse_args(argv)
    trees: list[tuple[str, Path]] = []
    for spec in args.tree:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_dir():
            print(f"--tree {spec!r}: expected NAME=PATH of a src directory", file=sys.stderr)
            return 1
        trees.append((name, Path(path).resolve()))
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in trees:
                res = run_once(tree, args, Path(tmp) / f"{name}-{r}")
                runs.append({"tree": name, "round": r, **res})
                print(
                    f"round {r} {name:>10}: process {res['process_s']:6.2f} s, loop"
                    f" {res['loop_s']:6.2f} s ({res['loop_ms_per_step']:.3f} ms/step),"
                    f" tokens {res['tokens_spent_ct']:.6f}, J {res['objective_value']:.9f}",
                    flush=True,
                )
    first = [x for x in runs if x["tree"] == trees[0][0]][0]
    same = all(
        x["tokens_spent_ct"] == first["tokens_spent_ct"]
        and x["objective_value"] == first["objective_value"]
        for x in runs
    )
    print("results identical across trees:", same)
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": runs}))
    return 0 if same else 2


if __name__ == "__main__":
    raise SystemExit(main())
