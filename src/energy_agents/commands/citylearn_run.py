"""``energy-agents citylearn-run``: CityLearn's own simulator stepped by the AI Manager's decisions.

Starts the AI Manager (``energy-agents serve`` on a free loopback port, a temporary SQLite
file, unsigned posts allowed on loopback), the advisors (a thread here running the five
advisors of ``advisors.registry`` on each published observation and posting their
recommendations to ``/receive`` as the agents do; ``--live``: the five uagents agents through
the launcher, signing their posts) and the CityLearn driver
(``integrations/citylearn_driver.py``) with the CityLearn venv's python. The driver publishes
each step's observation and steps ``CityLearnEnv`` with the decision's levers; at the end
this command scores the run: CityLearn's ``env.evaluate()`` and the 2022 challenge score.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).resolve().parents[1] / "integrations" / "citylearn_driver.py"
SETUP = "benchmarks/setup_citylearn_venv.sh"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def citylearn_python() -> Path:
    venv = os.environ.get("CITYLEARN_VENV") or str(REPO / "benchmarks" / ".venv-citylearn")
    return Path(venv) / "bin" / "python"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schema", type=Path, required=True, help="a CityLearn schema.json")
    parser.add_argument("--strategy", default="weighted", help="aggregation strategy")
    parser.add_argument("--live", action="store_true", help="the five real uagents agents")
    parser.add_argument("--days", type=int, default=None, help="first N days (default: all)")
    parser.add_argument(
        "--objective", default="citylearn2022", help="objective preset (default citylearn2022)"
    )
    parser.add_argument(
        "--deadline", type=float, default=30.0, help="seconds to wait for the five per step"
    )
    parser.add_argument(
        "--metering",
        choices=("district", "building"),
        default="district",
        help="one meter for the district (pooled batteries serve each other, as the 2022 score"
        " nets it) or one per building (each battery its own home, as evaluate()'s cost_total)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the run's JSON here")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "energy_agents", *args]


@contextlib.contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen]:
    from ..agents.procs import preexec_child

    with log.open("w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, preexec_fn=preexec_child)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class InProcessAdvisors(threading.Thread):
    """The five advisors as the agents run them: read /state, advise once per observation,
    post each recommendation (deterministic message id) to /receive."""

    def __init__(self, server: str) -> None:
        super().__init__(daemon=True, name="advisors")
        from ..client.http import ServerClient

        self.client = ServerClient(server, timeout=30.0)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.answered = 0

    def run(self) -> None:
        from ..advisors.registry import recommend_all
        from ..client.ids import message_id, observation_digest
        from ..sim.observation import Observation

        last = None
        try:
            while not self.stop.is_set():
                obs_dict = self.client.get_state()
                digest = None if obs_dict is None else observation_digest(obs_dict)
                if obs_dict is None or digest == last:
                    time.sleep(0.005)
                    continue
                obs = Observation.from_dict(obs_dict)
                for rec in recommend_all(obs):
                    payload = rec.to_dict()
                    payload["message_id"] = message_id(rec.agent_name, obs.step, digest)
                    payload["timestamp"] = time.strftime(TIMESTAMP_FORMAT, time.gmtime())
                    res = self.client.post_signed("/receive", payload, None)
                    if not res.ok and res.status != 409:
                        raise RuntimeError(f"POST /receive refused (HTTP {res.status}): {res.body}")
                last = digest
                self.answered += 1
        except BaseException as exc:  # reported by the command
            self.error = exc


def _wait_health(server: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    from ..client.http import ServerClient

    client = ServerClient(server, timeout=2.0)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"citylearn-run: the server exited: {log.read_text()[-2000:]}")
        if client.health():
            return
        time.sleep(0.1)
    raise SystemExit("citylearn-run: the server did not answer within 60 s")


def driver_argv(args: argparse.Namespace, out: Path, controller: str = "server") -> list[str]:
    """The driver's command line (CityLearn venv); the objective and tariff as JSON."""
    from ..scenarios import load_scenario

    scenario = load_scenario(
        f"citylearn:{args.schema.parent}", days=args.days, objective=args.objective
    )
    return [
        str(citylearn_python()),
        str(DRIVER),
        "--schema",
        str(args.schema),
        "--controller",
        controller,
        "--strategy",
        args.strategy,
        "--start",
        scenario.start.replace("T", " ")[:19],
        "--objective-json",
        json.dumps(scenario.objective.to_dict()),
        "--tariff-json",
        json.dumps(scenario.tariff.to_dict()),
        "--deadline",
        str(args.deadline),
        "--metering",
        getattr(args, "metering", "district"),
        "--out",
        str(out),
        *(["--days", str(args.days)] if args.days else []),
    ]


def run_citylearn(args: argparse.Namespace, controller: str = "server") -> dict[str, Any]:
    """One CityLearn run under ``controller`` (``server``: our strategy); returns the driver's
    result with the 2022 score added."""
    from ..advisors.types import AGENT_NAMES

    py = citylearn_python()
    if not py.exists():
        raise SystemExit(f"citylearn-run: {py} missing: run `bash {SETUP}` first")
    if not args.schema.is_file():
        raise SystemExit(f"citylearn-run: --schema {args.schema}: no such file")
    from ..coordination.registry import STRATEGIES

    if controller == "server" and args.strategy not in STRATEGIES:
        known = ", ".join(sorted(STRATEGIES))
        raise SystemExit(f"citylearn-run: --strategy {args.strategy!r}: unknown; known: {known}")
    with tempfile.TemporaryDirectory(prefix="citylearn-run-") as tmp:
        work = Path(tmp)
        out = work / "run.json"
        argv = driver_argv(args, out, controller)
        if controller != "server":
            _run_driver(argv, work / "driver.log")
            return score(json.loads(out.read_text()))
        port = _free_port()
        server = f"http://127.0.0.1:{port}"
        serve = ["serve", "--port", str(port), "--database", str(work / "server.sqlite")]
        serve += ["--allow-unsigned", "--allow-unsigned-runner", "--workers", "1"]
        if args.live:
            from ..agents.launcher import prepare_identities

            prepare_identities(work)
            serve += ["--agents-file", str(work / "agents.json")]
        argv += ["--server", server, "--agents", ",".join(AGENT_NAMES)]
        with _process(_cli(*serve), work / "server.log") as srv:
            _wait_health(server, srv, work / "server.log")
            if args.live:
                agents = _cli(
                    "agents", "--server", server, "--data-dir", str(work), "--interval", "0.05",
                    "--base-port", str(_free_port()),
                )  # fmt: skip
                with _process(agents, work / "agents.log"):
                    _run_driver(argv, work / "driver.log")
            else:
                advisors = InProcessAdvisors(server)
                advisors.start()
                try:
                    _run_driver(argv, work / "driver.log", advisors)
                finally:
                    advisors.stop.set()
                    advisors.join(5)
        return score(json.loads(out.read_text()))


def _run_driver(argv: list[str], log: Path, advisors: InProcessAdvisors | None = None) -> None:
    with _process(argv, log) as proc:
        while proc.poll() is None:
            if advisors is not None and advisors.error is not None:
                raise SystemExit(f"citylearn-run: the advisors failed: {advisors.error!r}")
            time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"citylearn-run: the CityLearn driver failed:\n{log.read_text()[-3000:]}")


def score(result: dict[str, Any]) -> dict[str, Any]:
    """Add the 2022 challenge score (district net against the run without storage)."""
    import numpy as np

    from ..sim import grid

    price, carbon = np.asarray(result["price"]), np.asarray(result["carbon"])
    terms = grid.net_terms(np.asarray(result["net_kwh"]), price, carbon, 1.0, 24)
    ref = grid.net_terms(np.asarray(result["net_no_storage_kwh"]), price, carbon, 1.0, 24)
    result["citylearn_2022"] = grid.citylearn_2022(terms, ref)
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    ev, s = result["evaluate"], result["citylearn_2022"]
    return {
        "cost_total": ev.get("cost_total"),
        "carbon_emissions_total": ev.get("carbon_emissions_total"),
        "ramping_average": ev.get("ramping_average"),
        "daily_peak_average": ev.get("daily_peak_average"),
        "all_time_peak_average": ev.get("all_time_peak_average"),
        "one_minus_load_factor": ev.get("monthly_one_minus_load_factor_average"),
        "district_cost_ratio_C": s["C"],
        "carbon_ratio_G": s["G"],
        "grid_D": s["D"],
        "score_2022": s["score"],
    }


def check_steps(result: dict[str, Any]) -> list[str]:
    """Problems of a run: steps without a decision, SOCs out of [0, 1]."""
    problems = []
    for rec in result["steps"]:
        if result["controller"] == "server" and not isinstance(rec.get("parameters"), dict):
            problems.append(f"step {rec['step']}: no decision")
        if any(not -1e-9 <= x <= 1 + 1e-9 for x in rec["soc"]):
            problems.append(f"step {rec['step']}: SOC out of bounds {rec['soc']}")
    return problems


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    result = run_citylearn(args)
    problems = check_steps(result)
    if args.out is not None:
        args.out.write_text(json.dumps(result))
    mode = "live agents" if args.live else "in-process advisors"
    print(
        f"citylearn-run: {result['n_steps']} steps of {_buildings(result['buildings'])} under "
        f"{args.strategy} ({mode}) in {time.monotonic() - started:.1f} s; "
        f"steps past the deadline: {result['late_steps']}"
    )
    for key, value in summary(result).items():
        print(f"  {key:24s} {'-' if value is None else f'{value:.4f}'}")
    for p in problems[:10]:
        print(f"citylearn-run: {p}", file=sys.stderr)
    return 1 if problems else 0


def _buildings(names: list[str]) -> str:
    """The buildings by name, or their count when there are many (a neighbourhood)."""
    return ", ".join(names) if len(names) <= 6 else f"{len(names)} buildings"
