#!/usr/bin/env bash
# Runs a command with throwaway PostgreSQL and Redis servers on free loopback ports, in a
# temporary folder that is removed afterwards — even when the command fails.
#
#   scripts/with-test-servers.sh swift test
#
# The command sees TEST_DATABASE_URL (a superuser URL: tests create their own databases),
# TEST_REDIS_URL (with a password and database 2, so AUTH and SELECT are exercised),
# REDIS_SERVER_BIN, and the same servers as DATABASE_URL / REDIS_URL.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
"$here/ensure-packages.sh"

pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/connectors-test.XXXXXX")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
pg_port="$(free_port)"
redis_port="$(free_port)"
redis_password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"

# PostgreSQL refuses to run as root: run it as the postgres user Debian's package creates.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$tmp"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  status=$?
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 -p "$redis_port" -a "$redis_password" --no-auth-warning shutdown nosave >/dev/null 2>&1 || true
  if [ -f "$tmp/redis.pid" ]; then kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true; fi
  # On failure, what PostgreSQL refused is often the explanation.
  if [ "$status" -ne 0 ] && [ -f "$tmp/pg.log" ]; then
    grep -E "FATAL|PANIC" "$tmp/pg.log" | sort | uniq -c | sort -rn | head -5 >&2 || true
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT INT TERM

"${as_pg[@]}" "$pg_bin/initdb" -D "$tmp/pg" -U postgres --auth=trust -E UTF8 --no-instructions >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; exit 1; }
# Durability is pointless for a throwaway cluster; turning it off makes tests faster.
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/pg" -w -l "$tmp/pg.log" \
  -o "-p $pg_port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=1000" \
  start >/dev/null || { cat "$tmp/pg.log" >&2; exit 1; }

redis-server --port "$redis_port" --bind 127.0.0.1 --requirepass "$redis_password" --save "" --appendonly no \
  --daemonize yes --pidfile "$tmp/redis.pid" --dir "$tmp" --logfile "$tmp/redis.log"
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p "$redis_port" -a "$redis_password" --no-auth-warning ping >/dev/null 2>&1 && break
  sleep 0.1
done

export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
export TEST_REDIS_URL="redis://:$redis_password@127.0.0.1:$redis_port/2"
export DATABASE_URL="$TEST_DATABASE_URL" REDIS_URL="$TEST_REDIS_URL"
export REDIS_SERVER_BIN="$(command -v redis-server)"
echo "test servers: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port (in $tmp)"
"$@"
