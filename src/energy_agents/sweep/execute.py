"""Running the cases on Dask distributed: a ``LocalCluster`` (one single-threaded worker
process per core: the batch loop is CPU-bound Python, so threads would share one GIL) or an
existing scheduler. Results are journaled as they complete (``as_completed``), in whatever
order the workers finish. A worker that dies mid-case is Dask's to handle: the scheduler
reschedules its tasks on the remaining workers, and the journal keeps one record per case."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from tqdm import tqdm

from .case import Case
from .pack import SharedPath, hold, pack_folder
from .store import Store
from .task import run_case


def _client(stack: ExitStack, scheduler: str | None, workers: int | None, dashboard: str) -> Any:
    from distributed import Client, LocalCluster

    if scheduler:
        return stack.enter_context(Client(scheduler, timeout="10s"))
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=dashboard,
        )
    )
    return stack.enter_context(Client(cluster))


def run_cases(
    cases: Sequence[Case],
    store: Store,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    shared_fs: bool = False,
    dashboard: str = "127.0.0.1:8787",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, int]:
    """Run ``cases``; each record goes to ``store`` as it completes. Returns the counts."""
    from distributed import as_completed

    counts = {"ok": 0, "failed": 0}
    if not cases:
        return counts
    with ExitStack() as stack:
        start = time.perf_counter()
        client = _client(stack, scheduler, workers, dashboard)
        n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        echo(
            f"dask: scheduler {client.scheduler.address}, {n_workers} workers "
            f"(ready in {time.perf_counter() - start:.1f} s)"
        )
        echo(f"dask dashboard: {client.dashboard_link}")
        token = uuid.uuid4().hex[:8]  # keys unique per run: a shared scheduler may hold others
        held: dict[str, Any] = {}
        futures: dict[Any, Case] = {}
        for case in cases:
            arg: Any = None
            if case.path is not None and shared_fs:
                arg = SharedPath(case.path)
            elif case.path is not None:
                if case.path not in held:  # one task per folder holds its bytes
                    held[case.path] = client.submit(
                        hold, pack_folder(case.path), key=f"sweep-data-{token}-{len(held)}"
                    )
                arg = held[case.path]
            fut = client.submit(run_case, case, arg, key=f"sweep-case-{token}-{case.id}")
            futures[fut] = case
        bar = tqdm(
            total=len(futures), unit="case", disable=not progress, file=sys.stderr, smoothing=0
        )
        for fut in as_completed(futures):
            case = futures[fut]
            try:
                record = fut.result()
            except (
                Exception
            ) as exc:  # e.g. KilledWorker: the case took down workers again and again
                record = {
                    "id": case.id,
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                }
            store.append(record)
            counts[record["status"]] += 1
            bar.update(1)
            bar.set_postfix(failed=counts["failed"], refresh=False)
            fut.release()
        bar.close()
    return counts
