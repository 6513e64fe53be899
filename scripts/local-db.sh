#!/usr/bin/env bash
# PostgreSQL and Redis for development, without Docker: data under .data/ in the project
# (git-ignored), kept between runs. `start` prints the URLs to put in .env; `stop` stops both.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
data="${DEV_DATA:-$root/.data}"
pg_port="${LOCAL_PG_PORT:-5432}"
redis_port="${LOCAL_REDIS_PORT:-6379}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

case "${1:-start}" in
start)
  "$root/scripts/ensure-packages.sh"
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  mkdir -p "$data/redis"
  if [ ! -d "$data/postgres" ]; then
    mkdir -p "$data/postgres"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$data/postgres"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$data/postgres" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
  fi
  if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data/postgres" status >/dev/null 2>&1; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data/postgres" -w -l "$data/postgres/server.log" \
      -o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
    "${as_pg[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres connectors 2>/dev/null || true
  fi
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --appendonly yes \
      --maxmemory 128mb --maxmemory-policy volatile-lru \
      --daemonize yes --pidfile "$data/redis/redis.pid" --logfile "$data/redis/redis.log"
  fi
  echo "DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/connectors"
  echo "REDIS_URL=redis://127.0.0.1:$redis_port"
  ;;
stop)
  [ -n "$pg_bin" ] && [ -d "$data/postgres" ] && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data/postgres" -m fast stop >/dev/null 2>&1 || true
  if [ -f "$data/redis/redis.pid" ]; then
    pid="$(cat "$data/redis/redis.pid")"
    kill "$pid" 2>/dev/null || true
    # Redis exits after writing its append-only file; wait, so "stopped" means stopped.
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  echo "stopped"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
