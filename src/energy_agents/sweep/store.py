"""The sweep's journal: one JSON line per finished case (``cases.jsonl`` in the output folder),
appended and flushed to disk as each case completes, so an interrupted sweep loses at most the
cases that were running. A re-run reads it back and skips every case whose latest record is
``ok``; failed cases run again (their cause may have been fixed or passing)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

JOURNAL = "cases.jsonl"


def _clean(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


class Store:
    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / JOURNAL

    def records(self) -> dict[str, dict[str, Any]]:
        """The latest record of each case id. A line cut off by a crash is skipped."""
        latest: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return latest
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                latest[record["id"]] = record
        return latest

    def finished(self) -> set[str]:
        return {k for k, r in self.records().items() if r.get("status") == "ok"}

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(_clean(record), sort_keys=True)
        with self.path.open("a") as f:
            if f.tell() > 0 and not self._ends_with_newline():
                f.write("\n")  # after a line cut off by a crash
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
