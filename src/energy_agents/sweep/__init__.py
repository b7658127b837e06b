"""``energy-agents sweep``: many cases (scenario x strategy x objective x tariff), each run as
one Dask task with the same batch loop as ``simulate``; resumable, one table and a report.
See docs/sweep.md."""
