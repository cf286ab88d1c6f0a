#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests and prints its URL on stdout.
# Order: TEST_DATABASE_URL if it answers; the machine's cluster on 127.0.0.1:5432 (started if
# down); else a throwaway cluster under $REEMPLOI_PG_DIR (default ~/.cache/reemploi-pg).
set -euo pipefail

answers() { pg_isready -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1; }

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "$TEST_DATABASE_URL"
  exit 0
fi

if answers 127.0.0.1 5432; then
  echo "postgres://postgres@127.0.0.1:5432/postgres"
  exit 0
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting the PostgreSQL $version cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do
    if answers 127.0.0.1 5432; then
      echo "postgres://postgres@127.0.0.1:5432/postgres"
      exit 0
    fi
    sleep 1
  done
fi

# A throwaway cluster, run as the postgres user (the server refuses to run as root).
dir=${REEMPLOI_PG_DIR:-$HOME/.cache/reemploi-pg}
port=${REEMPLOI_PG_PORT:-55432}
bin=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
if [ ! -x "$bin/initdb" ]; then
  echo "no PostgreSQL server found: install the postgresql package" >&2
  exit 1
fi
run_as() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/PG_VERSION" ]; then
  run_as "$bin/initdb -D $dir -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >&2
fi
if ! answers 127.0.0.1 "$port"; then
  run_as "$bin/pg_ctl -D $dir -l $dir/server.log -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -w start" >&2
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
