"""The CityLearn loaders' CSV reader (scenarios/csv_table.py) against pandas on awkward files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy_agents.scenarios.csv_table import numeric_column, read_csv_table
from energy_agents.sim.params import ScenarioError

AWKWARD = (
    "\ufeffmonth, load ,profile,text,sparse\n"
    '7,0.85116667,"[0.1, 0.2]",abc,\n'
    "\n"
    '8, 1e-3,"[1]",NA,0.1000000000000000055511151231257827\n'
    "9,-2.5,,x_1,1_000\n"
    "10,.5,[],nan,inf\n"
    "11,7.000000000000001,[],None,  3\n"
)


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("quoted", [True, False])
def test_numbers_equal_pandas_to_the_bit(tmp_path: Path, quoted: bool) -> None:
    text = AWKWARD if quoted else AWKWARD.replace('"[0.1, 0.2]"', "[0.1]").replace('"', "")
    path = _write(tmp_path, text)
    table = read_csv_table(path)
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    assert table.columns == list(df.columns) == ["month", "load", "profile", "text", "sparse"]
    assert len(table) == len(df) == 5
    for col in table.columns:
        want = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        got = table.numeric(col)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want, strict=True)
        assert (got.view(np.int64) == want.view(np.int64))[np.isfinite(want)].all(), col
    assert table.text("profile")[0] == ("[0.1, 0.2]" if quoted else "[0.1]")


def test_underscores_and_non_ascii_digits_are_not_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, "a,b\n1_000,1\n2,2\n\u0663,3\n")  # float() reads both
    want = pd.to_numeric(pd.read_csv(path)["a"], errors="coerce").to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(read_csv_table(path).numeric("a"), want)
    assert np.isnan(want[0]) and np.isnan(want[2])


def test_errors_name_the_file_column_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, AWKWARD)
    table = read_csv_table(path)
    with pytest.raises(ScenarioError, match=r"t\.csv: column 'load', line 4: -2\.5 is negative"):
        numeric_column(table, path, "load")
    assert numeric_column(table, path, "load", nonnegative=False)[2] == -2.5
    with pytest.raises(ScenarioError, match=r"column 'text', line 2: 'abc' is not a number"):
        numeric_column(table, path, "text")
    with pytest.raises(ScenarioError, match=r"column 'sparse', line 2: missing"):
        numeric_column(table, path, "sparse")
    with pytest.raises(ScenarioError, match=r"t\.csv: missing column 'hour'"):
        read_csv_table(path, ("month", "hour"))
    with pytest.raises(ScenarioError, match=r"x\.csv: file not found"):
        read_csv_table(tmp_path / "x.csv")
    wide = _write(tmp_path, "a,b\n1,2\n1,2,3\n", "wide.csv")
    with pytest.raises(ScenarioError, match=r"wide\.csv: cannot be read as CSV \(line 3: 3 fields"):
        read_csv_table(wide)
    with pytest.raises(ScenarioError, match=r"empty\.csv: cannot be read as CSV"):
        read_csv_table(_write(tmp_path, "\n\n", "empty.csv"))
