#!/usr/bin/env bash
# Stop a cluster started by scripts/start_postgres.sh DIR (no-op when it is not running).
set -euo pipefail
dir=${1:?usage: stop_postgres.sh DIR}
data="$dir/data"
[ -d "$data" ] || exit 0
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] || exit 0
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
else
  "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
fi
