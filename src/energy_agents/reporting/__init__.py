"""Batch reports: the per-step table, ``kpis.json``/``comparison.json``, plots and the HTML
report with the dashboard's charts (all file output of the batch commands lives here)."""
