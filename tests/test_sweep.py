"""``energy-agents sweep`` on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes of the venv's own ``dask`` CLI on loopback, started and killed here."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from energy_agents.cli import main
from ports import free_port_block

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "citylearn_mini"
DASK = Path(sys.executable).parent / "dask"
# Keys of kpis.json that are the run's timing, or not one column in the table.
NOT_COMPARED = {"wall_s", "notes", "citylearn_2022"}


class Cluster:
    """A scheduler and ``n`` workers (no nanny: a killed worker stays dead)."""

    def __init__(self, tmp: Path, n: int = 2) -> None:
        port = free_port_block(2)
        self.address = f"tcp://127.0.0.1:{port}"
        self.dashboard = f"http://127.0.0.1:{port + 1}/status"
        self.logs = tmp
        self.procs = [
            self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--dashboard-address", f"127.0.0.1:{port + 1}"),
        ]  # fmt: skip
        for i in range(n):
            self.procs.append(
                self._start(f"worker{i}", "worker", self.address, "--nthreads", "1",
                            "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                            "--name", f"w{i}")
            )  # fmt: skip
        from distributed import Client

        self.client = Client(self.address, timeout="30s")
        self.client.wait_for_workers(n, timeout=60)

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        return subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT)

    def workers(self) -> dict[str, dict]:
        return self.client.scheduler_info(n_workers=-1)["workers"]

    def pids(self) -> dict[str, int]:
        """Each worker's process id, asked of the worker itself."""
        return self.client.run(os.getpid)

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask"))
    yield c
    c.close()


def write_sweep(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


SMALL = f"""
[sweep]
strategies = ["none", "weighted"]
days = 2

[tariffs.peak]
demand_charge_ct_per_kw = 10
demand_charge_period = "day"

[[scenarios]]
kind = "citylearn"
path = "{FIXTURE}"

[[cases]]
scenario = "synthetic"
members = 4
seed = 1
days = 1
strategy = "mpc"
objective = "carbon"
tariff = "peak"
"""


def sweep(*args: str) -> int:
    return main(["sweep", *args, "--no-progress"])


def journal(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines() if x.strip()]


def test_rows_equal_serial_simulate_runs(cluster, tmp_path, capsys):
    file = write_sweep(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    assert sweep(str(file), "--out", str(out), "--scheduler", cluster.address) == 0
    printed = capsys.readouterr().out
    assert "5 cases: 0 finished earlier, 5 to run" in printed
    assert f"dask dashboard: {cluster.dashboard}" in printed
    assert requests.get(cluster.dashboard, timeout=10).status_code == 200  # bokeh serves it
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 5 and set(table["status"]) == {"ok"}
    pids = set(cluster.pids().values())
    assert set(table["worker_pid"]) <= pids  # run on the cluster's workers, not here
    serial = {
        ("citylearn", "none", "default"): ["--scenario", f"citylearn:{FIXTURE}", "--days", "2",
                                           "--strategy", "none"],
        ("citylearn", "weighted", "peak"): ["--scenario", f"citylearn:{FIXTURE}", "--days", "2",
                                            "--strategy", "weighted", "--demand-charge", "10",
                                            "--demand-charge-period", "day"],
        ("synthetic", "mpc", "peak"): ["--scenario", "synthetic", "--members", "4", "--seed",
                                       "1", "--days", "1", "--strategy", "mpc", "--objective",
                                       "carbon", "--demand-charge", "10",
                                       "--demand-charge-period", "day"],
    }  # fmt: skip
    for (kind, strategy, tariff), args in serial.items():
        ref = tmp_path / f"simulate-{kind}-{strategy}"
        assert main(["simulate", *args, "--no-progress", "--out", str(ref)]) == 0
        kpis = json.loads((ref / "kpis.json").read_text())
        (row,) = table[
            (table["kind"] == kind) & (table["strategy"] == strategy) & (table["tariff"] == tariff)
        ].to_dict("records")
        for key, value in kpis.items():
            if key in NOT_COMPARED:
                continue
            got = row[key]
            if value is None:
                assert got is None or (isinstance(got, float) and math.isnan(got)), key
            elif isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12, abs=1e-12), key
            else:
                assert got == value, key
        for part, value in kpis["citylearn_2022"].items():
            assert row[f"citylearn_2022_{part}"] == pytest.approx(value, rel=1e-12), part
        assert row["savings_capture"] is not None
        assert row["lp_bound"] <= row["objective_value"] + 1e-6
    for name in ("report.html", "savings_capture.png", "run_time.png"):
        assert (out / name).stat().st_size > 0


def test_resume_skips_finished_cases(cluster, tmp_path, capsys):
    """First on the default LocalCluster (data as bytes), resumed on the scheduler with
    ``--shared-fs``: a case's id does not depend on where or how it runs."""
    file = write_sweep(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    assert sweep(str(file), "--out", str(out), "--workers", "1", "--dashboard", ":0") == 0
    assert "dask: scheduler tcp://127.0.0.1:" in capsys.readouterr().out
    first = journal(out)
    assert len(first) == 5 and len({r["pid"] for r in first}) == 1
    # An interruption: two cases journaled, a third cut off in the middle of its line.
    lines = (out / "cases.jsonl").read_text().splitlines()
    (out / "cases.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    capsys.readouterr()
    assert sweep(str(file), "--out", str(out), "--scheduler", cluster.address, "--shared-fs") == 0
    assert "5 cases: 2 finished earlier, 3 to run" in capsys.readouterr().out
    ids = Counter(r["id"] for r in journal_lines(out))
    assert len(ids) == 5 and set(ids.values()) == {1}  # the two finished ones did not run again
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 5 and set(table["status"]) == {"ok"}
    # A third run has nothing to do.
    assert sweep(str(file), "--out", str(out), "--scheduler", cluster.address) == 0
    assert "5 finished earlier, 0 to run" in capsys.readouterr().out


def journal_lines(out: Path) -> list[dict]:
    """Every parsable line (the one cut off is skipped, as the store does)."""
    records = []
    for line in (out / "cases.jsonl").read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def test_a_failing_case_is_recorded_and_the_others_go_on(cluster, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "timeseries.csv").write_text("this,is\nnot,a scenario\n")
    file = write_sweep(
        tmp_path / "fail.toml",
        f"""
[sweep]
strategies = ["none"]
days = 1

[[scenarios]]
kind = "csv"
path = "broken"

[[scenarios]]
kind = "citylearn"
path = "{FIXTURE}"
""",
    )
    out = tmp_path / "out"
    assert sweep(str(file), "--out", str(out), "--scheduler", cluster.address) == 1
    printed = capsys.readouterr().out
    assert "1 ok, 1 failed" in printed and "failed: " in printed
    table = pd.read_parquet(out / "results.parquet").set_index("kind")
    assert table.loc["citylearn", "status"] == "ok"
    assert table.loc["csv", "status"] == "failed"
    assert "ScenarioError" in table.loc["csv", "error"]
    assert "timeseries.csv" in table.loc["csv", "error"]


def test_a_worker_killed_mid_sweep_loses_no_case(tmp_path):
    own = Cluster(tmp_path, n=2)
    try:
        file = write_sweep(
            tmp_path / "long.toml",
            f"""
[sweep]
strategies = ["weighted"]

[tariffs.a]
demand_charge_ct_per_kw = 1
[tariffs.b]
demand_charge_ct_per_kw = 2
[tariffs.c]
demand_charge_ct_per_kw = 3

[[scenarios]]
kind = "citylearn"
path = "{FIXTURE}"
days = 7
members = [1, 2, 3]
""",
        )  # 12 cases of about half a second each
        out = tmp_path / "out"
        proc = subprocess.Popen(
            [sys.executable, "-m", "energy_agents.cli", "sweep", str(file), "--out", str(out),
             "--scheduler", own.address, "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            busy = [a for a, keys in own.client.processing().items() if keys]
            done = (out / "cases.jsonl").exists()
            if busy and done:  # at least one case finished, one running now
                victim = own.pids()[busy[0]]
            else:
                time.sleep(0.05)
        assert victim is not None, "the sweep ended before a worker could be killed"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert len(own.workers()) == 1
        records = journal(out)
        counts = Counter(r["id"] for r in records)
        assert len(counts) == 12 and set(counts.values()) == {1}
        assert {r["status"] for r in records} == {"ok"}
        table = pd.read_parquet(out / "results.parquet")
        assert len(table) == 12 and table["id"].is_unique
    finally:
        own.close()


BAD_FILES = {
    "strategy": ('[sweep]\nstrategies = ["none", "magic"]\n[[scenarios]]\nkind = "synthetic"\n',
                 ["[sweep]: strategies: unknown 'magic'"]),
    "several": ('[sweep]\nstrategies = ["none"]\nobjectives = ["cheapest"]\n'
                '[tariffs.t]\ndemand_charge = 3\n'
                '[[scenarios]]\nkind = "synthetic"\nmembers = 0\n'
                '[[scenarios]]\nkind = "citylearn"\npath = "nowhere"\n'
                '[[cases]]\nscenario = "synthetic"\nstrategy = "none"\ntariff = "x"\n',
                ["[sweep]: objectives: objective: unknown preset 'cheapest'",
                 "[tariffs.t]: unknown key 'demand_charge'",
                 "scenarios #1: members: expected integers >= 1, got 0",
                 "scenarios #2: path:", "nowhere does not exist",
                 "cases #1: tariff: unknown 'x'"]),
    "toml": ("[sweep\n", ["not valid TOML"]),
    "empty": ("", ["no cases"]),
    "duplicate": ('[[cases]]\nscenario = "synthetic"\nstrategy = "none"\n'
                  '[[cases]]\nscenario = "synthetic"\nstrategy = "none"\nseed = 0\n',
                  ["cases #2: the case synthetic s0 / none / default / default is already "
                   "given by cases #1"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_sweep_files_exit_1_naming_each_entry(name, tmp_path, capsys):
    text, expected = BAD_FILES[name]
    file = write_sweep(tmp_path / f"{name}.toml", text)
    assert sweep(str(file), "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert err.startswith("energy-agents sweep: error: ")
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out").exists()  # nothing ran


def test_bad_sweep_file_in_a_real_process_has_no_traceback(tmp_path):
    file = write_sweep(tmp_path / "bad.toml", '[[scenarios]]\nkind = "wind"\n')
    done = subprocess.run(
        [sys.executable, "-m", "energy_agents.cli", "sweep", str(file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        "scenarios #1: kind: expected one of synthetic, citylearn, csv, got 'wind'" in done.stderr
    )
    assert "Traceback" not in done.stderr
