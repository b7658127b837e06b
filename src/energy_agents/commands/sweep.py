"""``energy-agents sweep FILE``: every case of a sweep file as a Dask task (docs/sweep.md)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..sweep.execute import run_cases
from ..sweep.report import write_report
from ..sweep.spec import load_sweep
from ..sweep.store import JOURNAL, Store
from ..sweep.table import RESULTS, results_frame, write_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the sweep file (TOML, docs/sweep.md)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: out/sweep-FILE'S-NAME)"
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="an existing Dask scheduler (default: a LocalCluster on this machine)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="LocalCluster worker processes (default: one per core)",
    )
    parser.add_argument(
        "--shared-fs",
        action="store_true",
        help="the workers see the dataset folders at the same paths: send paths, not bytes",
    )
    parser.add_argument(
        "--dashboard",
        default="127.0.0.1:8787",
        metavar="HOST:PORT",
        help="the LocalCluster's Dask dashboard (another free port if taken)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the cases, run none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers: must be >= 1")
    sweep = load_sweep(args.file)
    cases = sweep.cases
    if args.dry_run:
        for case in cases:
            print(f"{case.id}  {case.label}")
        print(f"{len(cases)} cases")
        return 0
    out: Path = args.out or Path("out") / f"sweep-{args.file.stem}"
    store = Store(out)
    done = store.finished()
    todo = [c for c in cases if c.id not in done]
    print(f"{len(cases)} cases: {len(cases) - len(todo)} finished earlier, {len(todo)} to run")
    start = time.perf_counter()
    counts = run_cases(
        todo,
        store,
        scheduler=args.scheduler,
        workers=args.workers,
        shared_fs=args.shared_fs,
        dashboard=args.dashboard,
        progress=not args.no_progress,
    )
    elapsed = time.perf_counter() - start
    frame = results_frame(cases, store.records())
    write_results(frame, out)
    failed = frame[frame["status"] != "ok"]
    notes = [f"{len(cases)} cases; this run: {len(todo)} in {elapsed:.1f} s"]
    notes += [f"{r['label']}: {r.get('error')}" for r in failed.to_dict("records")]
    write_report(frame, out, f"energy-agents sweep: {args.file.name}", notes)
    print(f"ran {len(todo)} cases in {elapsed:.1f} s: {counts['ok']} ok, {counts['failed']} failed")
    for r in failed.to_dict("records"):
        print(f"failed: {r['id']} {r['label']}: {r.get('error')}")
    print(f"wrote {out}/ ({RESULTS}, {JOURNAL}, report.html)")
    if len(failed):
        print(
            f"energy-agents sweep: {len(failed)} of {len(cases)} cases failed (re-run retries them)"
        )
        return 1
    return 0
