"""``results.parquet``: one row per case of the sweep file, in the file's order, with the
case's parameters, its status (``ok`` / ``failed`` / ``missing``), its error if any, and every
KPI ``simulate`` reports (nested ones flattened: ``citylearn_2022_C``, ...) plus the sweep's own
(``lp_bound``, ``savings_capture``, ``case_s``, ``load_s``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .case import Case

RESULTS = "results.parquet"


def flat_kpis(kpis: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kpis.items():
        if isinstance(value, Mapping):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        elif isinstance(value, list | tuple):
            out[key] = "; ".join(str(v) for v in value)
        else:
            out[key] = value
    return out


def case_row(case: Case, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The row of ``case``: parameters first; the KPIs' ``strategy`` and ``members`` (the
    members actually simulated) then fill in over the parameters of the same name."""
    row: dict[str, Any] = {"id": case.id, "label": case.label, **case.params()}
    row["objective_spec"] = row.pop("objective")
    if record is None:
        row["status"] = "missing"
        return row
    row["status"] = record.get("status")
    row["error"] = record.get("error")
    row["case_s"] = record.get("case_s")
    row["worker_pid"] = record.get("pid")
    row.update(flat_kpis(record.get("kpis") or {}))
    return row


def results_frame(cases: Sequence[Case], records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([case_row(c, records.get(c.id)) for c in cases])


def write_results(frame: pd.DataFrame, out: Path) -> Path:
    path = out / RESULTS
    frame.to_parquet(path, index=False)
    return path
