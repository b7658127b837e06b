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
from itertools import repeat
from pathlib import Path

import numpy as np

from ..sim.checks import ScenarioError


class CsvTable:
    """The cells of one CSV file, column by column (text), with numbers parsed on demand."""

    def __init__(self, path: Path, header: list[str], columns: list[list[str]]) -> None:
        self.path = path
        self.columns = header
        self._cells = dict(zip(header, columns, strict=True))
        self._numbers: dict[str, np.ndarray] = {}
        self._rows = len(columns[0]) if columns else 0

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, col: object) -> bool:
        return col in self._cells

    def text(self, col: str) -> list[str]:
        """Column ``col`` as its cells' text (a short row's missing cells: ``""``)."""
        return self._cells[col]

    def numeric(self, col: str) -> np.ndarray:
        """Column ``col`` as float64 (a new array each call); a cell that is not a number is
        NaN."""
        values = self._numbers.get(col)
        if values is None:
            cells = self._cells[col]
            try:
                joined = "".join(cells)  # float() also reads "1_0" and non-ASCII digits
                if "_" in joined or not joined.isascii():
                    raise ValueError
                values = np.array(cells, dtype=np.float64)
            except ValueError:
                values = np.array([_number(c) for c in cells], dtype=np.float64)
            self._numbers[col] = values
        return values.copy()


def _number(cell: str) -> float:
    if "_" in cell or not cell.isascii():
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
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ScenarioError(f"{path}: cannot be read as CSV (no columns to parse from file)")
    body = lines[1:]
    if '"' not in text:  # plain cells, the common case
        header = [c.strip() for c in lines[0].split(",")]
        width = len(header)
        if set(map(str.count, body, repeat(","))) <= {width - 1}:  # one split of the body
            flat = ",".join(body).split(",") if body else []
            if " " in text:
                flat = [c.lstrip() for c in flat]
            return _checked(path, header, [flat[j::width] for j in range(width)], required)
        rows = [[c.lstrip() for c in ln.split(",")] for ln in body]
    else:  # quoted cells (commas or line breaks inside): the csv module
        reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
        header, *rows = [r for r in reader if any(c.strip() for c in r)]
        header = [c.strip() for c in header]
    width = len(header)
    for i, row in enumerate(rows):
        if len(row) > width:
            raise ScenarioError(
                f"{path}: cannot be read as CSV (line {i + 2}: {len(row)} fields, "
                f"the header has {width})"
            )
    columns = [[r[j] if j < len(r) else "" for r in rows] for j in range(width)]
    return _checked(path, header, columns, required)


def _checked(
    path: Path, header: list[str], columns: list[list[str]], required: Sequence[str]
) -> CsvTable:
    for col in required:
        if col not in header:
            raise ScenarioError(f"{path}: missing column {col!r}")
    return CsvTable(path, header, columns)


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
