"""The recent rows of a per-step series, kept for the observation's history without the run.

An observation shows a week of each charger's past (``hist_ev_*``) as one read-only array.
Keeping every step of a year for that costs 350 MB at 5,000 chargers; :class:`RecentRows`
keeps the last ``depth`` rows in a buffer of twice as many. Pure numpy, no I/O.
"""

from __future__ import annotations

import numpy as np


class RecentRows:
    """Rows appended once a step; :meth:`rows` reads up to ``depth`` of the newest of them.

    When the buffer is full, its newest ``depth`` rows move to a fresh buffer (once every
    ``depth`` appends, so each row is copied about twice). The old buffer is never written
    again, so a view handed out earlier stays the snapshot it was."""

    def __init__(self, depth: int, width: int) -> None:
        self._depth = max(int(depth), 1)
        self._buf = np.zeros((2 * self._depth, width))
        self._end = 0  # the buffer's rows in use
        self.n = 0  # rows appended in all

    def append(self, row: np.ndarray) -> None:
        self.next_row()[:] = row

    def next_row(self) -> np.ndarray:
        """The row appended now, to be filled by the caller (no view handed out holds it)."""
        if self._end == self._buf.shape[0]:
            fresh = np.empty_like(self._buf)  # each row is written before it is read
            fresh[: self._depth] = self._buf[self._depth :]
            self._buf, self._end = fresh, self._depth
        out = self._buf[self._end]
        self._end += 1
        self.n += 1
        return out

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo`` to ``hi`` (exclusive, counted from the first row appended), read-only:
        at most ``depth`` rows, ending at most one before the newest."""
        first = self.n - self._end  # the row at the buffer's start
        if not (first <= lo <= hi <= self.n and hi - lo <= self._depth and hi >= self.n - 1):
            raise ValueError(f"rows {lo}:{hi} of {self.n}: only the newest are kept")
        view = self._buf[lo - first : hi - first]
        view.flags.writeable = False
        return view
