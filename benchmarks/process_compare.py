"""What a user waits for: whole processes, CityLearn 3.0.2 against ``energy-agents simulate``.

Runs with the project's venv; CityLearn runs in its own venv (``bash
benchmarks/setup_citylearn_venv.sh`` first)::

    .venv/bin/python benchmarks/process_compare.py \
        [--dataset ../shared/data/citylearn_challenge_2022_phase_1] [--repeats 3] \
        [--out benchmarks/results/process_compare.json]

Each repeat times, one after the other so that both see the same machine:

- ``citylearn``: ``citylearn_reference.py --rules none`` in CityLearn's venv, i.e. a fresh
  interpreter that imports CityLearn, builds ``CityLearnEnv`` from the schema, runs the
  no-control episode (``ZeroActionBaselineAgent``) and ``env.evaluate()``;
- ``ours``: ``energy-agents simulate --scenario citylearn:DATASET --strategy none`` (load the
  homes, run the year, write ``kpis.json``, ``steps.parquet`` and ``report.html``);
- ``ours --png``: the same with the static matplotlib plots.

Wall time of the whole process (start to exit), the median over the repeats, and the ratio.

Before timing, our package is byte-compiled (``compileall``, as ``pip install`` does): with
``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI) every run would otherwise compile
its modules again, about 40 ms that a user's install does not pay; CityLearn's site-packages
are compiled at install. ``--no-compile`` times without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CITYLEARN_PY = HERE / ".venv-citylearn" / "bin" / "python"
OURS = ROOT / ".venv" / "bin" / "energy-agents"
DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "citylearn_challenge_2022_phase_1"


def wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def compile_ours() -> None:
    """Byte-compile the ``energy_agents`` that ``OURS`` imports (PYTHONPATH respected)."""
    code = (
        "import compileall, os, energy_agents; "
        "compileall.compile_dir(os.path.dirname(energy_agents.__file__), quiet=1)"
    )
    subprocess.run([str(OURS.parent / "python"), "-c", code], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "process_compare.json")
    ap.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile our package first"
    )
    args = ap.parse_args(argv)
    if not CITYLEARN_PY.exists():
        print(
            f"{CITYLEARN_PY} missing: run `bash benchmarks/setup_citylearn_venv.sh`",
            file=sys.stderr,
        )
        return 1
    if not args.no_compile:
        compile_ours()
    cl_env = dict(os.environ, CITYLEARN_OFFLINE="1")
    cl_env.pop("PYTHONPATH", None)
    times: dict[str, list[float]] = {"citylearn": [], "ours": [], "ours --png": []}
    with tempfile.TemporaryDirectory() as tmp:
        citylearn = [
            str(CITYLEARN_PY),
            str(HERE / "citylearn_reference.py"),
            "--dataset",
            str(args.dataset),
            "--rules",
            "none",
            "--hourly-rules",
            "",
            "--out",
            str(Path(tmp) / "citylearn.json"),
        ]
        ours = [
            str(OURS),
            "simulate",
            "--scenario",
            f"citylearn:{args.dataset}",
            "--strategy",
            "none",
            "--no-progress",
            "--out",
            str(Path(tmp) / "ours"),
        ]
        for i in range(args.repeats):
            times["citylearn"].append(wall(citylearn, cl_env))
            times["ours"].append(wall(ours))
            times["ours --png"].append(wall([*ours, "--png"]))
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "dataset": str(args.dataset),
        "repeats": args.repeats,
        "bytecode_compiled_first": not args.no_compile,
        "load_average_before": os.getloadavg()[0],
        "wall_s": times,
        "median_s": med,
        "citylearn_over_ours": med["citylearn"] / med["ours"],
        "citylearn_over_ours_png": med["citylearn"] / med["ours --png"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"median: CityLearn {med['citylearn']:.2f} s, ours {med['ours']:.2f} s "
        f"({result['citylearn_over_ours']:.1f}x), ours --png {med['ours --png']:.2f} s "
        f"({result['citylearn_over_ours_png']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
