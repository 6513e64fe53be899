#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage without a Docker engine: builds both services as the
# Dockerfile does (release, --static-swift-stdlib, a scratch path of its own), lays them with
# their resource bundles into a Debian bookworm minbase root holding exactly the packages the
# runtime stage installs (read from deploy/Dockerfile, so the two cannot drift) and its user
# (uid 10001), and runs them there with `chroot --userspec=10001:10001` against the test
# PostgreSQL and Redis: no missing library, migrations found, /ready 200, the console served.
#
#   make image-check        (root; downloads the bookworm root once, into .build/image-root)
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root_dir"
: "${TEST_DATABASE_URL:?run under scripts/with-test-servers.sh}" "${TEST_REDIS_URL:?}"
[ "$(id -u)" -eq 0 ] || { echo "image-check needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y --no-install-recommends debootstrap >&2

dockerfile=deploy/Dockerfile
# The runtime stage: everything after its FROM ${RUNTIME_IMAGE}.
runtime="$(sed -n '/^FROM \${RUNTIME_IMAGE}/,$p' "$dockerfile")"
packages="$(printf '%s\n' "$runtime" | sed -n 's/.*apt-get install -y --no-install-recommends \([^\\&]*\).*/\1/p' | xargs)"
uid="$(printf '%s\n' "$runtime" | sed -n 's/.*useradd .*--uid \([0-9]*\).*/\1/p')"
suite="$(sed -n 's/^ARG RUNTIME_IMAGE=debian:\([a-z]*\)-slim$/\1/p' "$dockerfile")"
[ -n "$packages" ] && [ -n "$uid" ] && [ -n "$suite" ] || { echo "could not read the runtime stage of $dockerfile" >&2; exit 1; }
echo "runtime stage: debian $suite minbase + [$packages], user $uid"

# The build stage's packages (the Swift image has the toolchain; these are what it adds).
build_stage="$(sed -n '/^FROM \${SWIFT_IMAGE} AS build/,/^FROM /p' "$dockerfile")"
build_packages="$(printf '%s\n' "$build_stage" | sed -n 's/.*apt-get install -y --no-install-recommends \([^\\&]*\).*/\1/p' | xargs)"
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $build_packages >/dev/null

echo "building both services as the Dockerfile does (release, --static-swift-stdlib)..."
scratch=.build/image-check
for product in AuthService ConnectorsService; do
  swift build -c release --product "$product" --static-swift-stdlib --scratch-path "$scratch" >&2
done
bin="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)"

# The root, made once per package list (the list is in its name's hash).
key="$(printf '%s %s %s' "$suite" "$packages" "$uid" | sha256sum | cut -c1-12)"
image="$root_dir/.build/image-root-$key"
if [ ! -f "$image/.complete" ]; then
  rm -rf "$image"
  debootstrap --variant=minbase "$suite" "$image" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  cp /etc/resolv.conf "$image/etc/resolv.conf"
  # shellcheck disable=SC2086
  chroot "$image" sh -c "apt-get update && apt-get install -y --no-install-recommends $packages && rm -rf /var/lib/apt/lists/*" >&2
  chroot "$image" useradd --system --uid "$uid" --home-dir /app --shell /usr/sbin/nologin app
  touch "$image/.complete"
fi
cp /etc/hosts "$image/etc/hosts"

# Each service in its own folder, laid out as the image's /app: the binary, its bundles beside.
for service in AuthService ConnectorsService; do
  dir="$image/srv/$service"
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$bin/$service" "$dir/service"
  cp -R "$bin/Connectors_DB.resources" "$dir/"
  [ -d "$bin/Connectors_$service.resources" ] && cp -R "$bin/Connectors_$service.resources" "$dir/"
done
chown -R "$uid:$uid" "$image/srv"

mount -t proc proc "$image/proc"
mount --bind /dev "$image/dev"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  umount "$image/proc" "$image/dev" 2>/dev/null || true
}
trap cleanup EXIT

echo "libraries the binaries need, as the image's loader resolves them:"
for service in AuthService ConnectorsService; do
  missing="$(chroot "$image" ldd "/srv/$service/service" | grep 'not found' || true)"
  [ -z "$missing" ] || { echo "$service: missing libraries:"; echo "$missing"; exit 1; }
  echo "  $service: $(chroot "$image" ldd "/srv/$service/service" | wc -l) libraries, none missing"
done

database="imagecheck_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
psql "$TEST_DATABASE_URL" -q -c "CREATE DATABASE \"$database\""
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
auth_port="$(free_port)"
connectors_port="$(free_port)"
secret() { head -c 32 /dev/urandom | base64; }
common=(DATABASE_URL="${TEST_DATABASE_URL%/*}/$database" REDIS_URL="$TEST_REDIS_URL" BIND_HOST=127.0.0.1
  PUBLIC_URL="http://localhost:$auth_port" LOG_LEVEL=info)
run_as_app() { # folder, then env assignments and arguments
  local dir="$1"; shift
  chroot --userspec="$uid:$uid" "$image" /usr/bin/env -i HOME=/app "$@" 2>&1 | sed "s|^|  [$(basename "$dir")] |"
}

echo "migrations from the image's bundle, as user $uid:"
(cd / && run_as_app AuthService "${common[@]}" /srv/AuthService/service migrate)
logs="$(mktemp -d)"
chroot --userspec="$uid:$uid" "$image" /usr/bin/env -i HOME=/app "${common[@]}" AUTH_PORT="$auth_port" \
  BETTER_AUTH_SECRET="$(secret)" /srv/AuthService/service >"$logs/auth.log" 2>&1 &
pids+=($!)
chroot --userspec="$uid:$uid" "$image" /usr/bin/env -i HOME=/app "${common[@]}" CONNECTORS_PORT="$connectors_port" \
  JWT_SECRET="$(secret)" ENCRYPTION_KEY="$(secret)" AUTH_JWKS_URL="http://127.0.0.1:$auth_port/.well-known/jwks.json" \
  /srv/ConnectorsService/service >"$logs/connectors.log" 2>&1 &
pids+=($!)

ready() { curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready" 2>/dev/null || true; }
for _ in $(seq 1 150); do
  [ "$(ready "$auth_port")" = 200 ] && [ "$(ready "$connectors_port")" = 200 ] && break
  sleep 0.2
done
status=0
for pair in "auth:$auth_port" "connectors:$connectors_port"; do
  code="$(ready "${pair#*:}")"
  echo "  ${pair%%:*} /ready: $code"
  [ "$code" = 200 ] || status=1
done
console="$(curl -fsS "http://127.0.0.1:$auth_port/" | grep -c '<script' || true)"
echo "  console at /: $( [ "$console" -gt 0 ] && echo "served ($console script tags)" || echo missing)"
[ "$console" -gt 0 ] || status=1
jwks="$(curl -fsS "http://127.0.0.1:$auth_port/.well-known/jwks.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["alg"])' || true)"
echo "  JWKS: ${jwks:-none}"
[ "$jwks" = RS256 ] || status=1
if [ "$status" -ne 0 ]; then
  echo "image check FAILED; the services said:"; sed 's/^/  /' "$logs"/*.log; exit 1
fi
echo "image check passed: both services run from a bookworm minbase root with [$packages] as uid $uid"
