"""The compiled step kernel (sim/kernel.py) against the numpy step, side by side in one run.

Each measurement is its own process (``energy_agents.commands.bench.measure``: build the
synthetic scenario, make the ``Community``, run the year's loop of ``bench sim``'s cycle of
decisions), alternating ``--kernel off`` and ``on`` for every size and round. Reports the loop,
the ``Community``'s construction (where numba is imported and the compiled functions loaded),
the whole process as a user waits for it, and the peak RSS.

    .venv/bin/python benchmarks/step_kernel.py [--members 1000,10000] [--rounds 2]
        [--ev-share 0.5 --heat-pump-share 0.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(members: int, steps: int, kernel: str, ev: float, hp: float) -> dict:
    code = (
        "import json; from energy_agents.commands.bench import measure; "
        f"print(json.dumps(measure({members}, {steps}, 'synthetic', {ev!r}, {hp!r}, {kernel!r})))"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - start
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", default="1000,10000")
    p.add_argument("--steps", type=int, default=8760)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ev-share", type=float, default=0.0)
    p.add_argument("--heat-pump-share", type=float, default=0.0)
    p.add_argument("--out", type=Path, default=HERE / "results" / "step_kernel.json")
    args = p.parse_args()
    rows = []
    print("members  kernel  loop [s]  init [s]  process [s]  peak RSS [MiB]  max energy error")
    for members in (int(x) for x in args.members.split(",")):
        for _ in range(args.rounds):
            for kernel in ("off", "on"):
                r = one(members, args.steps, kernel, args.ev_share, args.heat_pump_share)
                rows.append({**r, "kernel_mode": kernel})
                print(
                    f"{members:>7}  {kernel:>6}  {r['loop_s']:8.2f}  {r['init_s']:8.2f}  "
                    f"{r['process_s']:11.2f}  {r['peak_rss_mib']:14.0f}  "
                    f"{r['max_energy_balance_error_kwh']:.1e}",
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
