"""A CSV file as columns of text, numbers parsed on demand: the CityLearn loaders read their
files with this instead of pandas (whose import alone costs about 0.2 s of a short run).

The header's names are stripped of spaces; cells lose leading spaces (as ``pd.read_csv(...,
skipinitialspace=True)``); blank lines are skipped and a UTF-8 byte order mark is dropped.
:meth:`CsvTable.numeric` reads a cell as ``float(cell)`` and anything that is not a number
(empty, ``NA``, text) as NaN, which is what ``pd.to_numeric(df[col], errors="coerce")`` gives
for these files (the same float64 to the bit: both round the decimal text correctly).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..sim.checks import ScenarioError


class CsvTable:
    """The rows of one CSV file, by column name."""

    def __init__(self, path: Path, header: list[str], rows: list[list[str]]) -> None:
        self.path = path
        self.columns = header
        self._index = {name: j for j, name in enumerate(header)}
        self._rows = rows
        self._text: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, col: object) -> bool:
        return col in self._index

    def text(self, col: str) -> list[str]:
        """Column ``col`` as its cells' text (a short row's missing cells: ``""``)."""
        cells = self._text.get(col)
        if cells is None:
            j = self._index[col]
            try:
                cells = [r[j] for r in self._rows]
            except IndexError:
                cells = [r[j] if j < len(r) else "" for r in self._rows]
            self._text[col] = cells
        return cells

    def numeric(self, col: str) -> np.ndarray:
        """Column ``col`` as float64; a cell that is not a number is NaN."""
        cells = self.text(col)
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = np.array([_number(c) for c in cells], dtype=np.float64)
        else:
            if any("_" in c for c in cells):  # float("1_0") is 10, not a number in a CSV
                values = np.array([_number(c) for c in cells], dtype=np.float64)
        return values


def _number(cell: str) -> float:
    if "_" in cell:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return float("nan")


def read_csv_table(path: Path, required: Sequence[str] = ()) -> CsvTable:
    """Read a CSV file; a missing file, an unreadable one or a missing column raises a
    :class:`ScenarioError` naming the file (and the column)."""
    if not path.is_file():
        raise ScenarioError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise ScenarioError(f"{path}: cannot be read as CSV ({exc})") from None
    if '"' in text:  # quoted cells (commas inside): the csv module
        lines = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
        lines = [r for r in lines if r]
    else:  # the common case, plain cells: splitting is several times faster
        lines = [[c.lstrip() for c in ln.split(",")] for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ScenarioError(f"{path}: cannot be read as CSV (no columns to parse from file)")
    header = [c.strip() for c in lines[0]]
    width = len(header)
    rows = lines[1:]
    for i, row in enumerate(rows):
        if len(row) > width:
            raise ScenarioError(
                f"{path}: cannot be read as CSV (line {i + 2}: {len(row)} fields, "
                f"the header has {width})"
            )
    for col in required:
        if col not in header:
            raise ScenarioError(f"{path}: missing column {col!r}")
    return CsvTable(path, header, rows)


def numeric_column(
    table: CsvTable, path: Path, col: str, *, nonnegative: bool = True
) -> np.ndarray:
    """Column ``col`` as float64; a NaN, a non-number or (if ``nonnegative``) a negative value
    raises a :class:`ScenarioError` naming the file, the column and the line."""
    values = table.numeric(col)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = table.text(col)[i]
        what = f"{raw!r} is not a number" if raw.strip() else "missing"
        raise ScenarioError(f"{path}: column {col!r}, line {i + 2}: {what}")
    if nonnegative and np.any(values < 0):
        i = int(np.flatnonzero(values < 0)[0])
        raise ScenarioError(f"{path}: column {col!r}, line {i + 2}: {values[i]} is negative")
    return values
