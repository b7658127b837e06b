"""The runner's durable state: the run's configuration and the levers applied at every step.

Resuming replays the applied levers through a fresh ``Community`` (and the no-control
baseline through its own): the model is deterministic, so this reproduces the state exactly
(a year replays in about a second), and the checkpoint stays a small, readable JSON-lines file
that never depends on pickling numpy objects. Layout, under ``<data_dir>/runner/``:

- ``run.json``: scenario specification and strategy (a resume with different ones is refused);
- ``steps.jsonl``: one line per applied step, ``{"step", "levers", "decision"}``, appended and
  fsync'ed before the next step is published. A torn last line (killed mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class CheckpointMismatch(ValueError):
    """The data directory holds a run of another scenario or strategy."""


class RunnerBusy(RuntimeError):
    """Another runner holds the data directory's lock."""


class Checkpoint:
    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "runner"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_file = self.dir / "run.json"
        self.steps_file = self.dir / "steps.jsonl"

    def lock(self) -> None:
        """Hold an exclusive lock on the run for the life of this process (released by the
        kernel even on SIGKILL): two runners on one data directory would corrupt it."""
        import fcntl

        self._lock_file = (self.dir / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise RunnerBusy(f"{self.dir}: another runner is using this data directory") from None
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def open_run(self, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Check (or record) the run's spec; return the steps applied so far, in order."""
        spec = json.loads(json.dumps(dict(spec)))
        if self.run_file.exists():
            stored = json.loads(self.run_file.read_text(encoding="utf-8"))
            if stored != spec:
                raise CheckpointMismatch(
                    f"{self.dir}: holds a run of {stored}, not {spec}; "
                    "use another --data-dir or --fresh"
                )
        else:
            self._write_atomic(self.run_file, json.dumps(spec, indent=2, sort_keys=True))
        return self.steps()

    def steps(self) -> list[dict[str, Any]]:
        if not self.steps_file.exists():
            return []
        out: list[dict[str, Any]] = []
        with self.steps_file.open("rb") as f:
            for raw in f:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    break  # torn last line
                if not isinstance(rec, dict) or rec.get("step") != len(out):
                    break
                out.append(rec)
        return out

    def truncate_to(self, steps: list[dict[str, Any]]) -> None:
        """Rewrite the steps file to exactly ``steps`` (drops a torn tail before appending)."""
        text = "".join(json.dumps(s, sort_keys=True) + "\n" for s in steps)
        self._write_atomic(self.steps_file, text)

    def append(self, record: Mapping[str, Any]) -> None:
        line = (json.dumps(dict(record), sort_keys=True) + "\n").encode()
        fd = os.open(self.steps_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def reset(self) -> None:
        self.steps_file.unlink(missing_ok=True)
        self.run_file.unlink(missing_ok=True)

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
