#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests and print its URL on stdout.
#
#   bash scripts/start_postgres.sh DIR [PORT]
#
# Installs the Debian package when no PostgreSQL binaries are found (needs root), initializes a
# cluster in DIR on first use, starts it listening on 127.0.0.1 only (PORT, default: a free
# one; a running cluster keeps its port), waits until it accepts connections and prints
#   postgresql://energy@127.0.0.1:PORT/energy_test
# Idempotent: running it again on the same DIR prints the URL of the cluster already running.
# Stop it with scripts/stop_postgres.sh DIR. Everything else goes to stderr.
set -euo pipefail
dir=${1:?usage: start_postgres.sh DIR [PORT]}
port=${2:-}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "start_postgres: PostgreSQL is not installed and installing it needs root" >&2
    exit 1
  fi
  echo "start_postgres: installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# PostgreSQL refuses to run as root: run the cluster as the 'postgres' user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
  chown postgres "$dir"
fi

data="$dir/data"
if [ ! -s "$data/PG_VERSION" ]; then
  as_owner "$pg_bin/initdb" -D "$data" -U energy --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
fi

if as_owner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  port=$(cat "$dir/port")
else
  if [ -z "$port" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  fi
  echo "$port" >"$dir/port"
  # fsync stays on: the durability tests kill the server, not the machine, but the settings
  # should be the real ones. Small shared memory and few connections: a test cluster.
  as_owner "$pg_bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=64MB" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
fi

for _ in $(seq 1 60); do
  if as_owner "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
  sleep 0.5
done
if ! as_owner "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U energy -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='energy_test'" | grep -q 1; then
  as_owner "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U energy energy_test >&2
fi
echo "postgresql://energy@127.0.0.1:$port/energy_test"
