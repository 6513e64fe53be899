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
trap 'rm -f "$log"' EXIT

timeout --kill-after=30s "${SWIFT_TEST_TIMEOUT:-35m}" "${SWIFT:-swift}" test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  printf '\nrun-tests: swift test did not finish within %s; tests not finished (running or waiting):\n' \
    "${SWIFT_TEST_TIMEOUT:-35m}" >&2
  # Swift Testing prints "◇ Test NAME started." (also while it waits for a slot), then
  # "✔ Test NAME passed …" or "✘ Test NAME failed …".
  comm -23 \
    <(sed -n 's/^.* Test \(.*\) started\.$/\1/p' "$log" | sort -u) \
    <(sed -n 's/^.* Test \(.*\) \(passed\|failed\|skipped\).*$/\1/p' "$log" | sort -u) | sed 's/^/  /' >&2
fi
[ "$status" -eq 0 ] || exit "$status"

exec timeout --kill-after=30s "${PYTEST_TIMEOUT:-25m}" "$TEST_PYTHON" -m pytest -q -p no:cacheprovider Tests/EndToEnd
