"""``energy-agents bench sim``: member-steps per second and peak memory of the step loop.

Each size runs in its own process (so its peak RSS is its own), through the same per-step loop
every strategy uses (``Community.observe`` then ``Community.step``) with storages, P2P and the
burn rate active: a fixed cycle of decisions that charges, discharges and trades.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("sim",), help="what to benchmark")
    parser.add_argument("--members", default="10,100,1000,10000", help="comma-separated sizes")
    parser.add_argument("--steps", type=int, default=8760, help="hourly steps (default a year)")
    parser.add_argument("--scenario", choices=("synthetic", "tiny"), default="synthetic")
    parser.add_argument(
        "--ev-share",
        type=float,
        default=0.0,
        help="synthetic: share of homes with an EV (default 0); half of the cycle's decisions "
        "drive the chargers, the others leave them uncontrolled",
    )
    parser.add_argument(
        "--heat-pump-share",
        type=float,
        default=0.0,
        help="synthetic: share of homes with a heat pump (default 0)",
    )
    parser.add_argument(
        "--kernel",
        choices=("auto", "on", "off"),
        default="auto",
        help="the compiled step kernel (sim/kernel.py): auto (the default, from 8 million "
        "member-steps up), on, or off (the numpy step)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out") / "bench", help="where bench_sim.json goes"
    )


def measure(
    members: int,
    steps: int,
    scenario_kind: str,
    ev_share: float = 0.0,
    heat_pump_share: float = 0.0,
    kernel: str = "auto",
) -> dict[str, Any]:
    """One size, in this process: build the scenario, then time the loop (``kernel``: auto, on
    or off, :class:`~energy_agents.sim.Community`'s ``compiled``)."""
    import numpy as np

    from ..sim import Community, Levers, Setpoints

    start = time.perf_counter()
    if scenario_kind == "synthetic":
        from ..scenarios import load_scenario

        scenario = load_scenario(
            "synthetic", members=members, ev_share=ev_share, heat_pump_share=heat_pump_share
        ).head(steps)
    else:
        from ..scenarios.tiny import tiny_scenario

        scenario = tiny_scenario(n_members=members, n_steps=steps)
    build_s = time.perf_counter() - start
    names = scenario.storage_names
    chargers = scenario.evs.names  # array setpoints, as a strategy of thousands of EVs sends
    cycle = [
        Levers(
            procurement_kwh=0.5 * members,
            storage_setpoints=dict.fromkeys(names, -1.0),
            storage_follow=True,
            p2p_enabled=True,
        ),
        Levers(
            procurement_kwh=0.5 * members,
            storage_setpoints=dict.fromkeys(names, 0.5),
            storage_follow=False,
            p2p_enabled=True,
            burn_rate_ct_per_kwh=0.02,
            ev_setpoints=Setpoints(chargers, np.zeros(len(chargers))),
        ),
        Levers(
            procurement_kwh=0.5 * members,
            storage_setpoints=dict.fromkeys(names, -0.5),
            storage_follow=False,
            p2p_enabled=True,
            p2p_price_rule="sdr",
            ev_setpoints=Setpoints(chargers, np.full(len(chargers), -0.5)),
        ),
    ]
    start = time.perf_counter()
    community = Community(scenario, compiled={"auto": None, "on": True, "off": False}[kernel])
    init_s = time.perf_counter() - start
    start = time.perf_counter()
    while not community.done:
        community.observe()
        community.step(cycle[community.t % 3])
    loop_s = time.perf_counter() - start
    return {
        "members": members,
        "ev_chargers": scenario.evs.n,
        "steps": scenario.n_steps,
        "build_s": build_s,
        "init_s": init_s,
        "kernel": community.compiled,
        "loop_s": loop_s,
        "member_steps_per_s": members * scenario.n_steps / loop_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "max_energy_balance_error_kwh": community.max_energy_error,
        "max_token_conservation_error_ct": community.max_token_error,
    }


def run(args: argparse.Namespace) -> int:
    sizes = [int(x) for x in args.members.split(",") if x.strip()]
    rows = []
    for n in sizes:
        code = (
            "import json,sys; from energy_agents.commands.bench import measure; "
            f"print(json.dumps(measure({n}, {args.steps}, {args.scenario!r}, {args.ev_share!r}, {args.heat_pump_share!r}, {args.kernel!r})))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"bench with {n} members failed: {done.stderr.strip()[-500:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['members']:>6} members x {row['steps']} steps: loop {row['loop_s']:7.2f} s, "
            f"{row['member_steps_per_s']:>12,.0f} member-steps/s, build {row['build_s']:6.2f} s, "
            f"init {row['init_s']:5.2f} s{' (kernel)' if row['kernel'] else ''}, "
            f"peak {row['peak_rss_mib']:7.0f} MiB",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_sim.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out / 'bench_sim.json'}")
    return 0
