#!/usr/bin/env bash
# Every test: the Swift suites, then the end-to-end suite. Run inside with-test-servers.sh
# (make test does), with SERVICE_BIN_DIR and TEST_PYTHON set.
#
# Each part runs under a time bound far above its usual length, so a test that hangs fails the
# run with the names of the tests still running instead of holding CI until its own limit.
set -uo pipefail

# At most 24 tests at a time. Each holds PostgreSQL connections (a database of its own, the
# pools of the services it starts): unbounded, a run reached ~950 connections at its peak, and
# on a busy machine went past the cluster's limit, where tests wait on each other's connections.
# Bounded, the peak is ~150 and the run takes about as long.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-24}"

log="$(mktemp "${TMPDIR:-/tmp}/swift-test.XXXXXX")"
expired="$log.expired"
trap 'rm -f "$log" "$expired"' EXIT

descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}

# Runs a command for at most $1 (as `sleep` reads it); past that, SIGKILLs it and every process
# under it. Not `timeout`: it signals its own process group, but `swift test` starts the test
# runner in a group of its own, and the runner's in-process services catch SIGTERM.
bounded() {
  local limit=$1
  shift
  "$@" &
  local pid=$!
  (
    sleep "$limit"
    touch "$expired"
    # Twice: a process started while the first list was taken is caught by the second.
    for _ in 1 2; do
      kill -KILL $(descendants "$pid") "$pid" 2>/dev/null
      sleep 1
    done
  ) &
  local watchdog=$!
  wait "$pid"
  local status=$?
  kill $(descendants "$watchdog") "$watchdog" 2>/dev/null
  return "$status"
}

bounded "${SWIFT_TEST_TIMEOUT:-35m}" "${SWIFT:-swift}" test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -e "$expired" ]; then
  printf '\nrun-tests: swift test did not finish within %s; tests not finished (running or waiting):\n' \
    "${SWIFT_TEST_TIMEOUT:-35m}" >&2
  # Swift Testing prints "◇ Test NAME started." (also while it waits for a slot), then
  # "✔ Test NAME passed …" or "✘ Test NAME failed …".
  comm -23 \
    <(sed -n 's/^.* Test \(.*\) started\.$/\1/p' "$log" | sort -u) \
    <(sed -n 's/^.* Test \(.*\) \(passed\|failed\|skipped\).*$/\1/p' "$log" | sort -u) | sed 's/^/  /' >&2
fi
[ "$status" -eq 0 ] || exit "$status"

bounded "${PYTEST_TIMEOUT:-25m}" "$TEST_PYTHON" -m pytest -q -p no:cacheprovider Tests/EndToEnd
status=$?
if [ -e "$expired" ]; then
  echo "run-tests: the end-to-end tests did not finish within ${PYTEST_TIMEOUT:-25m}" >&2
fi
exit "$status"
